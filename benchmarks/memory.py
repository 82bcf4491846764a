"""Peak memory of `annotate` on a 1-minute and a 10-minute video: streaming keeps them close.

    python benchmarks/memory.py [VIDEO] [--size 320x180] [--minutes 1,10]

The source clip is looped (ping-pong) to each length; peak RSS is reset before each run.
The ratio of each peak to the first run's is printed.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from common import machine, markdown_table, parser, publish, resized_copy, timed_run


def main() -> None:
    ap = parser(__doc__, "memory")
    ap.set_defaults(size="320x180")
    ap.add_argument("--minutes", default="1,10")
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
    publish(text, args.out)


if __name__ == "__main__":
    main()
