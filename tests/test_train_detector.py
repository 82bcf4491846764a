"""Training the person detector (`posevid train` with stage: detector) on photos made here from the
example clip's signer: a run writes weights the tracker loads, its curves, and resumes exactly."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from synth import labelled_signer_photos, small_run_config

from posevid.cli import main
from posevid.person.detector import DetectorNet, PersonDetector, folded


def config(tmp_path: Path, labels: Path, iterations: int, out: str = "run") -> Path:
    return small_run_config(tmp_path, "detector", labels, iterations, out)


def test_a_detector_run_writes_weights_the_tracker_loads_and_its_curves(tmp_path):
    labels = labelled_signer_photos(tmp_path / "photos")
    r = CliRunner().invoke(main, ["train", str(config(tmp_path, labels, 4)), "-q"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "run"
    detector = PersonDetector(run / "detector.pt")
    assert detector.meta["iterations"] == 4
    found = detector(np.zeros((360, 640, 3), np.uint8))
    assert isinstance(found, list)
    losses = list(csv.DictReader((run / "loss.csv").open()))
    assert [int(row["step"]) for row in losses] == [1, 2, 3, 4] and all(np.isfinite(float(x["loss"])) for x in losses)
    val = list(csv.DictReader((run / "validation.csv").open()))
    assert [int(row["step"]) for row in val] == [2, 4]
    assert all(0 <= float(row["recall"]) <= 100 for row in val)


def test_a_stopped_detector_run_resumes_to_the_same_weights(tmp_path):
    from posevid.config import section
    from posevid.train.detector import train_detector

    labels = labelled_signer_photos(tmp_path / "photos")
    straight = train_detector(section("train", config(tmp_path, labels, 4, "straight")), progress=False)
    cfg = section("train", config(tmp_path, labels, 4, "halves"))
    train_detector(cfg, progress=False, max_steps=2)
    resumed = train_detector(cfg, resume=True, progress=False)
    a, b = PersonDetector(straight), PersonDetector(resumed)
    assert b.meta["iterations"] == 4
    for (name, ta), tb in zip(a.net.state_dict().items(), b.net.state_dict().values(), strict=True):
        assert torch.allclose(ta, tb, atol=1e-5), name


def test_batchnorm_folds_into_the_detector_exactly():
    torch.manual_seed(0)
    net = DetectorNet(batchnorm=True)
    net.train()
    for _ in range(3):  # give the BatchNorm layers running statistics that are not the identity
        net(torch.rand(2, 3, 64, 96))
    net.eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(net(x), folded(net)(x), atol=1e-4)


def test_unsure_regions_neither_reward_nor_punish_a_detection():
    """Around an unsure box's centre the score target is not counted (care 0): a network that
    fires there loses nothing for it, while firing on plain background costs."""
    import torch

    from posevid.person import detector as det
    from posevid.person.roi import Roi
    from posevid.train.detector import detector_loss, targets

    person, unsure = Roi(20, 20, 64), Roi(200, 40, 64)
    score, reg, mask, care = targets([[person]], 320, 160, [[unsure]])
    cx, cy = (int(c // det.STRIDE) for c in unsure.centre)
    assert care[0, cy, cx] == 0 and care[0, 2, 30] == 1 and care.mean() > 0.95
    out = torch.full((1, 4, 20, 40), -8.0)
    out[0, 1:] = reg[0]
    out[0, 0, cy, cx] = 8.0  # a confident detection on the unsure region
    quiet, _ = detector_loss(out, score, reg, mask, care)
    loud, _ = detector_loss(out, score, reg, mask)
    assert loud > quiet
    elsewhere = out.clone()
    elsewhere[0, 0, cy, cx] = -8.0
    elsewhere[0, 0, 2, 30] = 8.0
    assert detector_loss(elsewhere, score, reg, mask, care)[0] > quiet


def test_a_wider_detector_starts_from_a_narrow_run_and_loads_with_its_own_widths(tmp_path):
    """`detector.widths` with `init` from a narrower run's checkpoint: the wide net starts as the
    narrow one's function (train/widen.py, exact in training mode, BatchNorm copied), and its
    weight file records its widths, so the tracker loads it like the shipped one."""
    from posevid.config import section
    from posevid.person.detector import widths_of
    from posevid.train.detector import train_detector
    from posevid.train.widen import widen_detector

    labels = labelled_signer_photos(tmp_path / "photos")
    train_detector(section("train", config(tmp_path, labels, 3, "narrow")), progress=False)
    state = torch.load(tmp_path / "narrow" / "checkpoint.pt", weights_only=True)["net"]
    narrow = DetectorNet(batchnorm=True, widths=widths_of(state))
    narrow.load_state_dict(state)
    wide = DetectorNet(batchnorm=True, widths=(24, 40, 72, 128))
    widen_detector(narrow, wide, noise=0.0)
    x = torch.rand(4, 3, 64, 96)
    for mode in ("train", "eval"):
        narrow.train(mode == "train")
        wide.train(mode == "train")
        with torch.no_grad():
            a, b = narrow(x), wide(x)
        assert torch.allclose(a, b, atol=1e-4 * float(a.abs().max())), mode

    cfg = yaml.safe_load(config(tmp_path, labels, 2, "wide").read_text())
    cfg["train"]["init"] = str(tmp_path / "narrow" / "checkpoint.pt")
    cfg["train"]["detector"] = {"widths": [32, 48, 96, 128]}
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(main, ["train", str(tmp_path / "wide.yaml"), "-q"])
    assert r.exit_code == 0, r.output
    detector = PersonDetector(tmp_path / "wide" / "detector.pt")
    assert detector.net.widths == (32, 48, 96, 128) and detector.meta["widths"] == [32, 48, 96, 128]
    assert isinstance(detector(np.zeros((360, 640, 3), np.uint8)), list)


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_a_turned_persons_box_is_the_crop_rule_of_their_turned_joints(quarters):
    """detector.turn pastes people turned as np.rot90 turns their piece: the box it teaches is the
    crop rule's box (roi.body_box) of the joints where the turned image shows them, not the old box
    turned (the rule's box hangs below the shoulders whichever way the person lies)."""
    from posevid.person.roi import body_box
    from posevid.train.detector import _turned

    h, w = 90, 140
    joints = np.array([[60, 20], [40, 45], [85, 47]], float)  # head, right and left shoulder
    image = np.zeros((h, w), np.uint8)
    for k, (x, y) in enumerate(joints.astype(int)):
        image[y, x] = 50 * (k + 1)  # one marked pixel per joint
    turned = np.rot90(image, quarters)
    seen = np.array([np.argwhere(turned == 50 * (k + 1))[0][::-1] for k in range(3)], float)
    labelled = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    pad = np.zeros((4, 2))
    box = body_box(np.vstack([joints + 0.5, pad]), labelled)  # pixel centres
    expected = body_box(np.vstack([seen + 0.5, pad]), labelled)
    got = _turned(box, quarters, image.shape)
    assert np.allclose([got.x, got.y, got.side], [expected.x, expected.y, expected.side])
    assert not np.allclose([got.x, got.y], [box.x, box.y])
