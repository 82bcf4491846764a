"""The person detector: recall and precision on held-out frames, and its time against the pose network's.

    python benchmarks/detector.py [--detector FILE] [--config configs/detector.yaml]
                                  [--people-config configs/detector-people.yaml]

Held-out people only (the `validation` sources of the detector's training config: LSP Extended
9801-10000 and single-person teacher-labelled clips that no training saw):

- composed frames: the training rule's frames (any size and place, several people, nobody) drawn
  with a fixed seed from held-out people and backgrounds;
- wide frames: each held-out photo at its native size, off-centre in a 1280×720 frame of clutter;
- video frames: every 10th labelled frame of the held-out clips, as they are;
- with every person labelled: the held-out clips labelled with `posevid label --people all`
  (configs/detector-people.yaml: pose2sim cam04 of both scenes), every person of a frame, where
  a detection of an unsure region (a proposal the teacher could not confirm) counts neither way.

A person is found when a detection's centre is within 0.25 of the labelled box's side and its
side within 1.5× (train_detector.matches). Time: ms a frame at 640×360 and 1280×720 on the CPU,
as a ratio to the pose network's ms a frame (default model, batch 8, same process); the tracker
runs the detector every tracking.DETECT_EVERY frames while it follows someone. Writes
benchmarks/results/detector.md.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
from common import ROOT, default_model, machine, markdown_table, parser, publish

from posevid.config import annotate_settings, section
from posevid.network.runtime import PRECISION_NAMES, PoseNetwork
from posevid.person import detector as det
from posevid.person.roi import Roi
from posevid.person.tracking import DETECT_EVERY
from posevid.train.datasets import iterate_sources
from posevid.train.detector import DetectorData, held_out_frames, place_native, recall_precision


def score(detector: det.PersonDetector, frames: list[tuple[np.ndarray, list[Roi]]]) -> list[float]:
    """[recall %, precision %, frames] with the detector as the tracker calls it (frame pixels)."""
    recall, precision = recall_precision(lambda img: [d.roi for d in detector(img)], frames)
    return [round(recall, 1), round(precision, 1), len(frames)]


def wide_frames(cfg: dict, data: DetectorData) -> list[tuple[np.ndarray, list[Roi]]]:
    """Held-out photos at native size in 1280×720 clutter (photos only: video frames are too big)."""
    out = []
    photos = [p for p in data.people if not p.video and max(p.image.shape[:2]) < 700]
    for i, p in enumerate(photos):
        rng = np.random.default_rng([2, i])
        bg = data.backgrounds[i % len(data.backgrounds)] if data.backgrounds and i % 2 else None
        frame, (dx, dy) = place_native(p.image, rng, bg)
        out.append((frame, [Roi(p.box.x + dx, p.box.y + dy, p.box.side)]))
    return out


def video_frames(data: DetectorData) -> list[tuple[np.ndarray, list[Roi]]]:
    videos = [p for p in data.people if p.video]
    return [(p.image, [p.box]) for p in videos[::2]]


def every_person_frames(cfg: dict) -> list[tuple[np.ndarray, list[Roi], list[Roi]]]:
    """Held-out frames where every person is labelled (`posevid label --people all` files among
    the config's validation sources): each frame once, with all its people and unsure boxes."""
    specs = [s for s in cfg["validation"] if s["type"] == "posevid" and Path(s["labels"]).is_file()
             and json.loads(Path(s["labels"]).read_text()).get("model", {}).get("every_person")]
    if not specs:
        return []
    data = DetectorData({**cfg, "validation": specs}, "validation")
    frames: dict[int, tuple[np.ndarray, list[Roi], list[Roi]]] = {}
    for p in data.people:
        frames.setdefault(id(p.image), (p.image, [p.box, *p.others], list(p.unsure)))
    return list(frames.values())


def ms_per_call(fn, x, repeats: int = 20) -> float:  # noqa: ANN001
    fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return 1000 * (time.perf_counter() - start) / repeats


def main() -> None:
    ap = parser(__doc__, "detector", video=False)
    ap.add_argument("--detector", type=Path, default=det.shipped_detector())
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "detector.yaml")
    ap.add_argument("--people-config", type=Path, default=ROOT / "configs" / "detector-people.yaml",
                    help="config whose validation sources labelled with --people all give the every-person row")
    args = ap.parse_args()
    cfg = section("train", args.config)
    cfg["detector"]["frame_every"] = 10
    # Both networks as annotate runs them by default (precision auto, flip), in this process.
    settings = annotate_settings()
    detector = det.PersonDetector(args.detector, flip=settings.flip, precision=settings.precision)
    held = DetectorData(cfg, "validation")
    sets = {"composed frames (training rule, held-out people)": held_out_frames(held),
            "held-out photos at native size in 1280×720": wide_frames(cfg, held),
            "held-out video frames as they are": video_frames(held),
            "held-out video frames, every person labelled": every_person_frames(
                {**section("train", args.people_config), "detector": {**cfg["detector"], "frame_every": 5}})}
    rows = []
    for name, frames in sets.items():
        if not frames:
            continue
        rows.append([name, *score(detector, frames)])
        print(f"{name}: recall {rows[-1][1]}, precision {rows[-1][2]}", flush=True)
    pose = PoseNetwork(default_model(), settings.preset, "cpu", settings.precision, settings.heatmap, settings.flip)
    crops = list(np.random.default_rng(0).integers(0, 256, (8, pose.input_size, pose.input_size, 3), np.uint8))
    pose_ms = ms_per_call(pose.heatmaps, crops) / 8
    times = [[f"pose network (default model, {PRECISION_NAMES[pose.dtype]}, flip, batch 8)", round(pose_ms, 2),
              1.0, "-"]]
    for w, h in ((640, 360), (1280, 720)):
        img = cv2.resize(sets["held-out video frames as they are"][0][0], (w, h))
        ms = ms_per_call(detector, img)
        times.append([f"detector ({PRECISION_NAMES[detector.dtype]}, flip), one {w}×{h} frame", round(ms, 2),
                      round(ms / pose_ms, 2), round(ms / DETECT_EVERY / pose_ms, 3)])
    n_people = len(iterate_sources(cfg["validation"]))
    text = (f"Detector `{args.detector.name}`, threshold {detector.threshold}. Machine: {machine()}. "
            f"Held-out sources: {n_people} labelled samples.\n\n"
            + markdown_table(["held-out frames", "recall %", "precision %", "frames"], rows)
            + "\n\nTime (CPU, torch threads as set):\n\n"
            + markdown_table(["what", "ms a frame", "× pose network",
                              f"× pose network, run every {DETECT_EVERY} frames"], times))
    publish(text, args.out)


if __name__ == "__main__":
    main()
