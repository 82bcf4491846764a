from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from posevid.network import weights  # noqa: E402
from posevid.network.nets import SpatialNetFusion, TemporalPool  # noqa: E402
from posevid.network.presets import PRESETS  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained tiny-preset weight file with a window-3 pooling layer (made here, not shipped)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    weights.save(path, SpatialNetFusion(PRESETS["tiny"]), TemporalPool(3), {"stage": "test"})
    return path


@pytest.fixture(scope="session")
def synth_video(tmp_path_factory):
    from synth import make_video

    path = tmp_path_factory.mktemp("videos") / "walk.mp4"
    truth = make_video(path, frames=24, size=(160, 120), audio=True)
    return path, truth
