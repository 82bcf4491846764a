"""scripts/average_weights.py: the mean of weight files, as the soup in docs/training.md was made."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from posevid.network import weights
from posevid.network.nets import SpatialNetFusion
from posevid.network.presets import get_preset
from posevid.network.weights import shipped_model
from posevid.train.widen import widen

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "average_weights.py"


def _shifted(tmp_path: Path, name: str, delta: float) -> Path:
    """The shipped h128 model with every floating tensor moved by `delta`."""
    net, pool, meta = weights.load(shipped_model("h128"))
    with torch.no_grad():
        for v in net.state_dict().values():
            if v.is_floating_point():
                v.add_(delta)
        pool.weight.add_(delta)
    path = tmp_path / name
    weights.save(path, net, pool, meta)
    return path


def test_average_of_weight_files_is_their_mean_and_loads(tmp_path):
    average = runpy.run_path(str(SCRIPT))["average"]
    a, b = _shifted(tmp_path, "a.pt", 0.25), _shifted(tmp_path, "b.pt", -0.75)
    out = tmp_path / "soup.pt"
    average([a, b], out)
    soup, soup_pool, meta = weights.load(out)
    ref, ref_pool, _ = weights.load(shipped_model("h128"))
    for k, v in ref.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(soup.state_dict()[k], v - 0.25, atol=1e-5), k
    assert torch.allclose(soup_pool.weight, ref_pool.weight - 0.25, atol=1e-6)
    assert meta["soup"] == [str(a), str(b)]


def test_average_refuses_files_of_another_preset(tmp_path):
    average = runpy.run_path(str(SCRIPT))["average"]
    net, pool, meta = weights.load(shipped_model("h128"))
    finer = SpatialNetFusion(get_preset("h160"))  # h128's layers on another input size: no widening
    finer.load_state_dict(net.state_dict())
    weights.save(tmp_path / "h160.pt", finer, pool, meta)
    with pytest.raises(SystemExit, match="another preset"):
        average([shipped_model("h128"), tmp_path / "h160.pt"], tmp_path / "soup.pt")


def test_a_narrower_file_is_widened_as_a_training_run_widens_its_start(tmp_path):
    """The shipped q128 network averaged with its own widening to h128 (as `posevid train`
    widens an init of a narrower preset, seed 0) is that widening itself: the narrower file
    enters the mean exactly as the wider run's starting point."""
    average = runpy.run_path(str(SCRIPT))["average"]
    narrow, pool, meta = weights.load(shipped_model("q128"))
    wide = SpatialNetFusion(get_preset("h128"))
    widen(narrow, wide, seed=0)
    start = tmp_path / "start.pt"
    weights.save(start, wide, pool, meta)
    out = tmp_path / "soup.pt"
    average([shipped_model("q128"), start], out)
    soup, _, _ = weights.load(out)
    assert soup.preset.name == "h128"
    for k, v in wide.state_dict().items():
        assert torch.allclose(soup.state_dict()[k], v, atol=1e-6), k
