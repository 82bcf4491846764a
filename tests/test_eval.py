"""`posevid eval` end to end: labelled photos and a labelled video, through the real pipeline."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import yaml
from click.testing import CliRunner
from synth import draw_figure, figure_joints, make_video, texture

from posevid.cli import main
from posevid.io.writers import JsonWriter, frame_record
from posevid.joints import JOINT_TYPES


def labelled_photos(folder: Path, n: int = 6) -> Path:
    folder.mkdir(parents=True)
    w = JsonWriter(folder / "labels.json", {"images": str(folder)})
    for k in range(1, n + 1):
        img = texture(160, 160, seed=k)
        j = figure_joints(80, 72, 26, phase=k)
        draw_figure(img, j, 26)
        cv2.imwrite(str(folder / f"im{k:05d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        rec = frame_record(k, 0.0, j, np.ones(7), 0.5)
        rec["image"] = f"im{k:05d}.jpg"
        w.add(rec)
    w.close({})
    return folder / "labels.json"


def labelled_video(folder: Path) -> Path:
    video = folder / "clip.mp4"
    truth = make_video(video, frames=12, size=(320, 240), figures=[(0.5, 0.55, 0.3)], speed=2.0)
    w = JsonWriter(folder / "clip.json", {"video": {"path": str(video)}})
    for k, j in enumerate(truth):
        w.add(frame_record(k, k / 25, j, np.ones(7), 0.5))
    w.close({})
    return folder / "clip.json"


def test_eval_prints_the_table_and_writes_csv_plots_and_summary(tmp_path, tiny_model):
    photos = labelled_photos(tmp_path / "photos")
    clip = labelled_video(tmp_path)
    cfg = {"eval": {"model": str(tiny_model), "out": str(tmp_path / "eval"), "teacher": False,
                    "images": [{"type": "posevid", "labels": str(photos)}],
                    "videos": [{"type": "posevid", "labels": str(clip)}],
                    "windows": [1, 3], "pools": ["parametric", "sum", "max"]}}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(main, ["eval", str(tmp_path / "eval.yaml"), "-q"])
    assert r.exit_code == 0, r.output
    assert "images (6 labelled)" in r.output and "videos (12 labelled)" in r.output

    out = tmp_path / "eval"
    summary = json.loads((out / "summary.json").read_text())
    video_settings = set(summary["sets"]["videos"]["curves"])
    assert {"SpatialNet", "SpatialNet Fusion", "Fusion + flow parametric n=3", "Fusion + flow sum n=1",
            "Fusion + flow max n=3"} <= video_settings
    for name in video_settings:
        assert name in r.output
    for curves in (summary["sets"]["images"]["curves"], summary["sets"]["videos"]["curves"]):
        for per_type in curves.values():
            for jt in JOINT_TYPES:
                acc = per_type[jt]
                assert len(acc) == 21 and all(0 <= a <= 100 for a in acc)
                assert all(b >= a for a, b in zip(acc, acc[1:], strict=False))  # cumulative in d

    with open(out / "accuracy.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    settings_in_csv = {(row["set"], row["setting"]) for row in rows}
    assert len(rows) == len(settings_in_csv) * len(JOINT_TYPES) * 21
    for plot in ("images.png", "videos.png"):
        img = cv2.imread(str(out / plot))
        assert img is not None and img.shape[0] > 100
