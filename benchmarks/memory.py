"""Peak memory of `annotate` on a 1-minute and a 10-minute video: streaming keeps them close.

    python benchmarks/memory.py [VIDEO] [--size 320x180] [--minutes 1,10]

The source clip is looped (ping-pong) to each length; peak RSS is reset before each run.
The ratio of each peak to the first run's is printed.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import DEFAULT_SOURCE, machine, markdown_table, resized_copy, timed_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--minutes", default="1,10")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory.md")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="posevid-mem-"))
    rows, first = [], None
    for minutes in (float(m) for m in args.minutes.split(",")):
        video = resized_copy(args.video, w, h, seconds=60 * minutes, loop=True, folder=tmp)
        r = timed_run(video, tmp / "out", flow="dis")
        first = first or r["peak_mb"]
        rows.append([minutes, r["frames"], r["fps"], r["peak_mb"], r["peak_mb"] / first])
        print(f"{minutes} min: {r['frames']} frames, peak {r['peak_mb']:.0f} MB", flush=True)
    text = (f"Input: {args.video.name} looped, {w}×{h}, default settings (cpu preset, DIS flow, trained window, "
            f"overlay video written). Machine: {machine()}.\n\n"
            + markdown_table(["minutes", "frames", "fps", "peak MB", "× first"], rows))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
