"""Accuracy with the automatic region of interest against a hand-given box (issue 6's measurement).

    python benchmarks/roi_accuracy.py [--model FILE]  (default: the shipped default model)

1. Held-out LSP Extended photos (321-400, from work-data/lspet: docs/training.md), each
   enlarged 2× and placed at a random spot of a black 1280×720 frame (a one-frame video
   each): --roi auto against the labelled box given by hand (--box) and against the whole
   frame letterboxed.
2. Videos with teacher labels as ground truth: the held-out sign-language clip, and the
   street video (several people; it was in the training data): the same three strategies.
Accuracy is % of joints within 6 and 10 px at the 256-pixel scale of the labelled box.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from common import default_model, machine, markdown_table, parser, publish

from posevid.joints import JOINT_TYPES
from posevid.train.datasets import Sample, read_joints_mat, read_posevid, videos_of
from posevid.train.evaluate import eval_videos, pck_table

WORK = Path(__file__).resolve().parents[1] / "work-data"
VIDEOS = {"sign-language clip, held out": "slp_FOOTBALL", "street video, trained on": "street-video_paris-street"}
VARIANTS = {"auto region (--roi auto)": {"roi": "auto", "_regions": "pipeline", "flow": "none"},
            "whole frame (letterbox)": {"roi": "letterbox", "_regions": "pipeline", "flow": "none"},
            "hand-given box (--box)": {"flow": "none"}}


def photo_videos(folder: Path, seed: int = 0) -> dict[str, dict[int, Sample]]:
    rng = np.random.default_rng(seed)
    out = {}
    for s in read_joints_mat(WORK / "lspet" / "joints.mat", WORK / "lspet" / "images", 321, 400):
        img = cv2.imread(s.source)
        if img is None:
            continue
        img = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
        canvas = np.zeros((720, 1280, 3), np.uint8)
        x0, y0 = int(rng.integers(0, max(1, 1280 - w))), int(rng.integers(0, max(1, 720 - h)))
        canvas[y0:y0 + min(h, 720), x0:x0 + min(w, 1280)] = img[: 720, : 1280]
        path = folder / f"{Path(s.source).stem}.mp4"
        with av.open(str(path), "w") as c:
            st = c.add_stream("libx264", rate=25)
            st.width, st.height, st.pix_fmt = 1280, 720, "yuv420p"
            for p in st.encode(av.VideoFrame.from_ndarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), format="rgb24")):
                c.mux(p)
            for p in st.encode(None):
                c.mux(p)
        out[str(path)] = {0: Sample(str(path), 0, s.joints * 2 + [x0, y0], s.labelled)}
    return out


def table(name: str, res: dict[str, np.ndarray]) -> tuple[str, list]:
    rows = []
    for variant, d in res.items():
        t = pck_table(d, 10)
        rows.append([variant] + [t[jt][6] for jt in JOINT_TYPES] + [t[jt][10] for jt in JOINT_TYPES])
    header = [name] + [f"{jt}@6" for jt in JOINT_TYPES] + [f"{jt}@10" for jt in JOINT_TYPES]
    return markdown_table(header, rows), rows


def main() -> None:
    ap = parser(__doc__, "roi_accuracy", video=False)
    ap.add_argument("--model", type=Path, default=default_model())
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="posevid-roi-"))
    parts = [f"Model: {args.model.name}. Machine: {machine()}.\n"]
    if (WORK / "lspet" / "joints.mat").exists():
        photos = photo_videos(tmp)
        text, _ = table(f"LSP 321-400 in 1280×720 frames ({len(photos)})", eval_videos(args.model, photos, VARIANTS))
        parts.append(text)
    for name, stem in VIDEOS.items():
        labels = WORK / "labels" / f"{stem}.json"
        if labels.exists():
            res = eval_videos(args.model, videos_of(read_posevid(labels)), VARIANTS)
            text, _ = table(f"{name} (teacher labels)", res)
            parts.append(text)
    out = "\n\n".join(parts)
    publish(out, args.out)


if __name__ == "__main__":
    main()
