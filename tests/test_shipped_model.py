"""The shipped model: loads safely, is the default of annotate, and carries its learned pooling layer."""
from __future__ import annotations

import json

import numpy as np
import torch
from click.testing import CliRunner
from synth import make_video

from posevid import weights
from posevid.cli import main
from posevid.pipeline import shipped_model


def test_shipped_model_is_the_default_and_complete(tmp_path):
    path = shipped_model("cpu")
    net, pool, meta = weights.load(path)
    assert net.preset.name == "cpu" and meta["arch"] == "spatialnet-fusion"
    assert pool is not None and pool.window >= 1 and torch.isfinite(pool.weight).all()
    video = tmp_path / "clip.mp4"
    make_video(video, frames=10, size=(160, 120))
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "-q", "--no-video"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "clip.json").read_text())
    assert doc["model"]["file"].endswith("posevid-cpu.pt") and doc["settings"]["pool"] == "parametric"
    assert doc["model"]["window_trained"] == pool.window


def test_precision_choices_agree_and_are_reported(tmp_path):
    """bf16 (what `auto` picks on CPUs that have it) gives the fp32 joints to within a pixel or
    two, the JSON says which arithmetic ran, and fp16 on the CPU is refused in one line."""
    video = tmp_path / "walk.mp4"
    make_video(video, frames=12, size=(160, 120))
    joints = {}
    for p in ("fp32", "bf16"):
        r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / p), "-q", "--no-video",
                                      "--no-csv", "--roi", "letterbox", "--threshold", "0", "--precision", p])
        assert r.exit_code == 0, r.output
        doc = json.loads((tmp_path / p / "walk.json").read_text())
        assert doc["model"]["precision"] == p
        joints[p] = np.array([[j["x"], j["y"]] for f in doc["frames"] for j in f["joints"].values()], dtype=float)
    diff = np.linalg.norm(joints["fp32"] - joints["bf16"], axis=1)
    assert len(diff) == 12 * 7 and np.isfinite(diff).all()
    assert np.median(diff) <= 1.0 and np.mean(diff <= 3.0) >= 0.9
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "h"), "--device", "cpu",
                                  "--precision", "fp16"])
    assert r.exit_code == 2 and "needs a CUDA device" in r.output and "Traceback" not in r.output
