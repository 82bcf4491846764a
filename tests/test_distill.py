"""Distillation (train/distill.py): the ensemble reads crops as the pipeline does, and a run's
targets are mixed with what it reads."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from synth import draw_figure, figure_joints, texture
from test_training import figure_images, posevid_labels, tiny_config

from posevid.joints import NUM_JOINTS
from posevid.network import weights
from posevid.network.runtime import PoseNetwork
from posevid.train.distill import EnsembleTargets
from posevid.train.pose import train


def figure_crops(n: int, size: int) -> list[np.ndarray]:
    out = []
    for k in range(n):
        img = texture(size, size, seed=k)
        draw_figure(img, figure_joints(size / 2, size * 0.45, size / 5, phase=k), size / 5)
        out.append(img)
    return out


def test_the_ensemble_reads_a_crop_as_the_pipeline_does_flip_averaged():
    """One member: the same heatmaps as annotate's network with flip averaging (shipped model, fp32)."""
    path = weights.shipped_model("h128")
    pipeline = PoseNetwork(path, "h128", device="cpu", precision="fp32", flip=True)
    crops = figure_crops(3, pipeline.input_size)
    ensemble = EnsembleTargets([path], 0.5, torch.device("cpu"))
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255)
    torch.testing.assert_close(ensemble.heatmaps(x), pipeline.heatmaps(crops), atol=2e-4, rtol=1e-3)


def test_two_members_average_and_the_mix_leaves_other_channels_alone(tiny_model):
    torch.manual_seed(1)
    x = torch.rand(2, 3, 64, 64)
    one = EnsembleTargets([tiny_model], 1.0, torch.device("cpu"))
    net, _, _ = weights.load(tiny_model)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    other = tiny_model.with_name("other.pt")
    weights.save(other, net, None, {"stage": "test"})
    both = EnsembleTargets([tiny_model, other], 0.25, torch.device("cpu"))
    second = EnsembleTargets([other], 1.0, torch.device("cpu"))
    torch.testing.assert_close(both.heatmaps(x), (one.heatmaps(x) + second.heatmaps(x)) / 2)
    size = one.heatmaps(x).shape[-1]
    target = torch.rand(2, NUM_JOINTS + 2, size, size)
    mixed = both.mixed(x, target)
    torch.testing.assert_close(mixed[:, :NUM_JOINTS], 0.75 * target[:, :NUM_JOINTS] + 0.25 * both.heatmaps(x))
    assert torch.equal(mixed[:, NUM_JOINTS:], target[:, NUM_JOINTS:])
    with pytest.raises(ValueError):
        EnsembleTargets([tiny_model], 0.0, torch.device("cpu"))


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    posevid_labels(root / "labels.json", root / "images", figure_images(root / "images"))
    return root


def first_loss(run_dir) -> float:
    with open(run_dir / "loss.csv") as f:
        return float(next(csv.DictReader(f))["loss"])


def test_a_run_taught_towards_its_own_start_begins_near_zero_loss(tmp_path, figures):
    """A run distilled (weight 1) towards the network it starts from is already where its targets
    are, so its first loss is a fraction of the same run's loss on the labels: the targets are
    the ensemble's, read from the very crops the step trains on."""
    root = figures
    start = tiny_config(tmp_path / "a", root / "labels.json", iterations=30, batchnorm=False)
    init = train(start, progress=False)
    plain = tiny_config(tmp_path / "b", root / "labels.json", init=str(init), iterations=2,
                        batchnorm=False, lr=1e-6, augment={**start["augment"], "flip": 0.0})
    taught = {**plain, "out": str(tmp_path / "c" / "run"), "distill": {"models": [str(init)], "weight": 1.0}}
    train(plain, progress=False)
    train(taught, progress=False)
    ratio = first_loss(tmp_path / "c" / "run") / first_loss(tmp_path / "b" / "run")
    assert ratio < 0.3
