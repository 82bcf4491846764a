"""posevid's frames per second as a ratio to MediaPipe Pose's on the same video, in the same process.

    python benchmarks/versus_mediapipe.py [VIDEO] [--size 640x360] [--seconds 20]

Both read the same frames (the clip looped to 20 s by default, as in throughput.py);
MediaPipe (the `teacher` extra) runs its tracking mode over every frame, already decoded in
memory; posevid runs the whole annotate job (default settings, with and without flow), and
the same without writing the overlay video and CSV (JSON only).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import bench_input, machine, markdown_table, parser, publish, timed_run

from posevid.io.video import VideoReader
from posevid.train.teacher import Teacher


def mediapipe_fps(video: Path) -> float:
    with VideoReader(video) as r:
        frames = [f.image for f in r.frames()]
    teacher = Teacher(video=True)
    start = time.perf_counter()
    for im in frames:
        teacher(im)
    elapsed = time.perf_counter() - start
    teacher.close()
    return len(frames) / elapsed


def main() -> None:
    ap = parser(__doc__, "versus_mediapipe")
    ap.set_defaults(seconds=20.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="posevid-mp-"))
    video, described = bench_input(args, tmp)
    mp = mediapipe_fps(video)
    rows = [["MediaPipe Pose 0.10.14 (network only, frames in memory)", mp, 1.0]]
    for label, over in [("posevid annotate, no flow (whole job)", {"flow": "none"}),
                        ("posevid annotate, DIS flow, trained window (whole job)", {})]:
        r = timed_run(video, tmp / "out", **over)
        rows.append([label, r["fps"], r["fps"] / mp])
        r2 = timed_run(video, tmp / "out", video=False, csv=False, **over)
        rows.append([label.replace("whole job", "JSON only"), r2["fps"], r2["fps"] / mp])
    text = (f"Input: {described}. Machine: {machine()}.\n\n"
            + markdown_table(["what", "fps", "× MediaPipe"], rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
