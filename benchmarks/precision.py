"""Network arithmetic on the CPU: fp32 against bf16, in speed and in the joints it gives.

    python benchmarks/precision.py [--labels work-data/labels/A.json,...]

`--precision auto` computes the network in bf16 on CPUs that do bf16 in hardware (AMX or
AVX512-BF16) and in fp32 elsewhere. This shows what that costs and gains: the network's
time a frame (batch 8, channels-last) in each precision as a ratio to fp32, and how far the
precision scores: PCK at 6 and 10 pixels (256-pixel scale) on held-out teacher-labelled videos
in whole runs, and on the LSP photos with their labelled boxes.
Writes benchmarks/results/precision.md.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from common import ROOT, machine, markdown_table, parser, publish

from posevid import settings
from posevid.network.runtime import native_bf16
from posevid.person.roi import crop, from_joints
from posevid.pipeline import Annotator
from posevid.train.datasets import read_joints_mat, read_posevid, videos_of
from posevid.train.evaluate import eval_videos, pck_table

DATA = ROOT / ".." / "shared" / "data"
#: Teacher-labelled videos that training never saw (made by `posevid label`, see docs/training.md).
HELD_OUT = tuple(ROOT / "work-data" / "labels" / f"{name}.json" for name in
                 ("pose2sim-demo_single-person_cam04", "pose2sim-demo_multi-person_cam04", "slp_FOOTBALL"))
LSP = DATA / "lsp-subset"


def network_ms(ann: Annotator, repeats: int = 10) -> float:
    inputs = [np.random.default_rng(i).integers(0, 255, (256, 256, 3), dtype=np.uint8) for i in range(8)]
    ann.network.heatmaps(inputs)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        ann.network.heatmaps(inputs)
    return 1000.0 * (time.perf_counter() - start) / (repeats * len(inputs))


def lsp_pck(ann: Annotator) -> dict[str, list[float]]:
    dists = []
    for s in read_joints_mat(LSP / "joints.mat", LSP / "images"):
        roi = from_joints(s.joints, s.labelled)
        im = cv2.imread(s.source, cv2.IMREAD_COLOR)
        if roi is None or im is None:
            continue
        pts, _ = ann.network.poses([crop(cv2.cvtColor(im, cv2.COLOR_BGR2RGB), roi, 256)])[0]
        d = np.linalg.norm(pts - (s.joints - [roi.x, roi.y]) * (256 / roi.side), axis=1)
        dists.append(np.where(s.labelled, d, np.nan))
    return pck_table(np.array(dists), 10)


def main() -> None:
    ap = parser(__doc__, "precision", video=False)
    ap.add_argument("--labels", default=",".join(str(p) for p in HELD_OUT),
                    help="posevid label files of videos (comma-separated; missing ones are skipped)")
    args = ap.parse_args()
    anns = {p: Annotator(settings(device="cpu", precision=p, video=False, csv=False)) for p in ("fp32", "bf16")}
    speed = {p: network_ms(a) for p, a in anns.items()}
    rows = [[p, speed[p], speed[p] / speed["fp32"]] for p in anns]
    labels = [Path(p) for p in args.labels.split(",") if Path(p).is_file()]
    videos = videos_of([x for p in labels for x in read_posevid(p)])
    variants = {f"{p}, {how} regions": {"precision": p, "video": False, "csv": False,
                                         **({"_regions": "pipeline"} if how == "own" else {})}
                for how in ("labelled", "own") for p in anns}
    dists = eval_videos(anns["fp32"].model_path, videos, variants) if videos else {}
    video_rows = []
    for name, d in dists.items():
        table = pck_table(d, 10)
        video_rows.append([name, len(d)] + [table[jt][t] for t in (6, 10) for jt in table])
    pck = {p: lsp_pck(a) for p, a in anns.items()} if (LSP / "joints.mat").is_file() else {}
    pck_rows = [[p] + [pck[p][jt][t] for t in (6, 10) for jt in pck[p]] for p in pck]
    text = (f"Machine: {machine()}; bf16 in hardware: {'yes' if native_bf16() else 'no'} "
            "(`--precision auto` picks bf16 only then).\n\n"
            + markdown_table(["precision", "network ms / frame", "× fp32"], rows))
    if video_rows:
        jts = list(pck_table(next(iter(dists.values())), 1))
        text += (f"\n\nPCK on held-out labelled videos ({', '.join(p.stem for p in labels)}; teacher labels), "
                 "whole runs (DIS flow, trained window), with the labelled region (arithmetic alone) and with "
                 "the region the pipeline finds itself (what a user gets):\n\n"
                 + markdown_table(["variant", "frames"] + [f"{jt}@{t}" for t in (6, 10) for jt in jts], video_rows))
    if pck_rows:
        text += ("\n\nPCK on the LSP photos of ../shared/data/lsp-subset (training photos, labelled boxes: this "
                 "compares the two precisions, it is not a held-out score):\n\n"
                 + markdown_table(["precision"] + [f"{jt}@{t}" for t in (6, 10) for jt in pck["fp32"]], pck_rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
