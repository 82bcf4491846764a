"""Memory of `annotate` on a 1-minute and a 10-minute video: streaming keeps them close.

    python benchmarks/memory.py [VIDEO] [--size 320x180] [--minutes 1,10]

The source clip is looped (ping-pong) to each length. Each length runs in a fresh Python
process (this script started again with --one), so that one run's allocator state cannot
flatter or burden the next. Per run: peak RSS (the kernel's high-water mark, which also
catches sub-second spikes such as the person search's network batches), and RSS sampled
every half second: its median over the run's first and last quarters. Streaming shows as
a flat RSS (last quarter ≈ first quarter) and a peak that does not grow with length.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
from common import machine, markdown_table, parser, publish, resized_copy, timed_run

PAGE_MB = 4096 / 2**20


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; NaN elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_MB
    except OSError:
        return float("nan")


def one(video: Path, out: Path) -> dict:
    """Annotate once in this process; peak and the RSS samples taken meanwhile."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append(rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    r = timed_run(video, out, flow="dis")
    stop.set()
    sampler.join()
    q = max(1, len(samples) // 4)
    return {"frames": r["frames"], "fps": r["fps"], "peak_mb": r["peak_mb"],
            "first_quarter_mb": float(np.median(samples[:q])) if samples else float("nan"),
            "last_quarter_mb": float(np.median(samples[-q:])) if samples else float("nan")}


def main() -> None:
    ap = parser(__doc__, "memory")
    ap.set_defaults(size="320x180")
    ap.add_argument("--minutes", default="1,10")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: measure one prepared video, print JSON
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="posevid-mem-"))
    if args.one:
        print(json.dumps(one(args.one, tmp / "out")))
        return
    w, h = (int(v) for v in args.size.split("x"))
    rows, first = [], None
    for minutes in (float(m) for m in args.minutes.split(",")):
        video = resized_copy(args.video, w, h, seconds=60 * minutes, loop=True, folder=tmp)
        done = subprocess.run([sys.executable, __file__, "--one", str(video)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"memory.py: the {minutes}-minute run failed:\n{done.stderr[-2000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        first = first or r["peak_mb"]
        rows.append([minutes, r["frames"], r["fps"], r["peak_mb"], r["peak_mb"] / first,
                     r["first_quarter_mb"], r["last_quarter_mb"]])
        print(f"{minutes} min: {r['frames']} frames, peak {r['peak_mb']:.0f} MB, RSS "
              f"{r['first_quarter_mb']:.0f} -> {r['last_quarter_mb']:.0f} MB", flush=True)
    text = (f"Input: {args.video.name} looped, {w}×{h}, default settings (cpu preset, DIS flow, trained window, "
            f"overlay video written), each length in a fresh process. Machine: {machine()}.\n\n"
            + markdown_table(["minutes", "frames", "fps", "peak MB", "peak × first", "RSS first quarter MB",
                              "RSS last quarter MB"], rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
