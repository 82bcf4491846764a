"""The shipped model: loads safely, is the default of annotate, and carries its learned pooling layer."""
from __future__ import annotations

import json

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
