"""Shot cuts (issue 7's measurement): detection precision and recall, and accuracy near cuts
with cut detection against without it.

    python benchmarks/cuts.py [--model FILE]  (default: the shipped default model) [--clip 20]

A video is made of short clips of the labelled videos (teacher labels), each letterboxed into
640×360, joined by hard cuts. Regions of interest come from the labels, so only the temporal
pooling differs between the two runs. "Near a cut" is the 3 frames either side.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from common import default_model, machine, markdown_table, parser, publish

from posevid import Annotator, VideoReader, settings
from posevid.joints import JOINT_TYPES
from posevid.train.datasets import Sample, label_regions, read_posevid, videos_of
from posevid.train.evaluate import frame_distances, pck_table

LABELS = Path(__file__).resolve().parents[1] / "work-data" / "labels"
SOURCES = ["pose2sim-demo_single-person_cam04", "street-video_paris-street", "pose2sim-demo_multi-person_cam04",
           "sports2d-demo_demo", "pose2sim-demo_single-person_cam02", "pose2sim-demo_multi-person_cam01"]


def build(folder: Path, clip: int) -> tuple[Path, dict[int, Sample], list[int]]:
    """The joined video, its labels by frame, and the true cut frames."""
    path = folder / "joined.mp4"
    labels: dict[int, Sample] = {}
    cuts: list[int] = []
    out = av.open(str(path), "w")
    st = out.add_stream("libx264", rate=25)
    st.width, st.height, st.pix_fmt = 640, 360, "yuv420p"
    index = 0
    for round_ in range(2):
        for name in SOURCES:
            src = LABELS / f"{name}.json"
            if not src.exists():
                continue
            video, by_frame = next(iter(videos_of(read_posevid(src)).items()))
            start = round_ * clip * 2
            with VideoReader(video) as r:
                h, w = r.info.height, r.info.width
                scale = min(640 / w, 360 / h)
                ox, oy = (640 - w * scale) / 2, (360 - h * scale) / 2
                m = np.float32([[scale, 0, ox], [0, scale, oy]])
                taken = 0
                for fr in r.frames():
                    if fr.index < start or fr.index not in by_frame:
                        continue
                    if index and taken == 0:
                        cuts.append(index)
                    img = cv2.warpAffine(fr.image, m, (640, 360))
                    for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                        out.mux(p)
                    s = by_frame[fr.index]
                    labels[index] = Sample(str(path), index, s.joints * scale + [ox, oy], s.labelled)
                    index += 1
                    taken += 1
                    if taken == clip:
                        break
    for p in st.encode(None):
        out.mux(p)
    out.close()
    return path, labels, cuts


def run(model: Path, video: Path, labels: dict[int, Sample], **over) -> tuple[list[int], dict[int, np.ndarray]]:
    ann = Annotator(settings(model=str(model), **over))
    dists = {}
    with VideoReader(video) as r:
        for result in ann.run(r, regions=label_regions(labels)):
            d = frame_distances(result, labels.get(result.frame.index), ann.input_size)
            if d is not None:
                dists[result.frame.index] = d
    return [c["frame"] for c in ann.cuts], dists


def main() -> None:
    ap = parser(__doc__, "cuts", video=False)
    ap.add_argument("--model", type=Path, default=default_model())
    ap.add_argument("--clip", type=int, default=20)
    args = ap.parse_args()
    video, labels, truth = build(Path(tempfile.mkdtemp(prefix="posevid-cuts-")), args.clip)
    found, with_cuts = run(args.model, video, labels)
    _, without = run(args.model, video, labels, cut_threshold=0, max_gap=0)
    tp = len(set(found) & set(truth))
    precision = tp / len(found) if found else float("nan")
    recall = tp / len(truth) if truth else float("nan")
    near = sorted({f for c in truth for f in range(c - 3, c + 3)} & set(labels))
    rows = []
    for name, d in (("with cut detection", with_cuts), ("without cut detection", without)):
        t = pck_table(np.array([d[f] for f in near if f in d]), 10)
        rows.append([name] + [t[jt][6] for jt in JOINT_TYPES] + [t[jt][10] for jt in JOINT_TYPES])
    header = ["frames near cuts"] + [f"{jt}@6" for jt in JOINT_TYPES] + [f"{jt}@10" for jt in JOINT_TYPES]
    text = (f"Model: {args.model.name}, DIS flow, trained window, parametric pooling. Machine: {machine()}.\n"
            f"Joined video: {len(labels)} frames, {len(truth)} true cuts; detected {len(found)}, "
            f"precision {precision:.2f}, recall {recall:.2f}.\n\n" + markdown_table(header, rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
