"""The box refiner (person/refine.py), a training stage not shipped yet (docs/training.md section 4):
its geometry, and that a run (train/refiner.py) writes weights that load, its curves, and resumes
exactly."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from synth import labelled_signer_photos, small_run_config

from posevid.cli import main
from posevid.config import section
from posevid.person import refine as rf
from posevid.person.roi import Roi, body_box
from posevid.train.refiner import MARGIN, MAX_BOX, RefinerData, cut_region, train_refiner

ROOT = Path(__file__).resolve().parents[1]
HEAD_AND_SHOULDERS = np.array([1, 1, 1, 0, 0, 0, 0], bool)


def config(tmp_path: Path, labels: Path, iterations: int, out: str = "run") -> Path:
    return small_run_config(tmp_path, "refiner", labels, iterations, out,
                            augment={"flip": 0.5, "rotate": 30.0, "spin": 0.2, "colour": 0.2, "blur": 0.2},
                            refiner={"real": [{"type": "posevid", "labels": str(labels)}]})


def test_decode_reads_back_the_box_a_target_names():
    win = Roi(-40.0, 25.0, 300.0)
    truth = Roi(10.0, 60.0, 120.0)
    back = rf.decode(rf.target(truth, win), win)
    assert np.allclose([back.x, back.y, back.side], [truth.x, truth.y, truth.side], atol=1e-3)
    assert rf.window(truth).centre == truth.centre and rf.window(truth).side == rf.CONTEXT * truth.side


@pytest.mark.parametrize("seed", range(6))
def test_a_training_example_targets_the_crop_rule_box_of_the_joints_where_they_land(seed):
    """Head and shoulders painted as dots in a frame, then an example turned any way, mirrored, and
    (odd seeds) the frame shrunk as a wide shot's: the crop-rule box of the dots found in the
    example's image is the box its target row names."""
    p = 1100  # shoulders 60 pixels apart: a crop-rule box of 270, the frame MARGIN boxes around it
    frame = np.zeros((p, p, 3), np.uint8)
    joints = np.zeros((7, 2), np.float32)
    joints[:3] = [[550, 540], [520, 556], [580, 553]]
    for k, (x, y) in enumerate(joints[:3]):
        frame[int(y) - 6:int(y) + 7, int(x) - 6:int(x) + 7] = (255 * (k == 0), 255 * (k == 1), 255 * (k == 2))
    region, inside = cut_region(frame, joints, HEAD_AND_SHOULDERS)
    assert max(region.shape[:2]) <= MAX_BOX * MARGIN + 1  # kept at most MAX_BOX pixels a box
    data = RefinerData.__new__(RefinerData)
    data.images, data.joints, data.labelled, data.p = [region], [inside], HEAD_AND_SHOULDERS[None], np.ones(1)
    defaults = section("train")
    data.cfg = {"seed": 0, "augment": {"flip": 1.0, "spin": 1.0, "colour": 0.0, "blur": 0.0},
                "refiner": {**defaults["refiner"], "low_res": 0.0, "smaller": float(seed % 2), "resolution": 0.6}}
    img, row, truth, noisy = data.example(np.random.default_rng(seed), 0)
    assert np.allclose(rf.target(truth, rf.window(noisy)), row, atol=1e-5)  # the boxes scored are the row's
    seen = []
    for k in range(3):
        ys, xs = np.nonzero(img[..., k].astype(int) - img[..., [c for c in range(3) if c != k]].max(-1) > 30)
        assert len(xs), f"joint {k} not in the example's image"
        seen.append([xs.mean(), ys.mean()])
    found = body_box(np.vstack([seen, np.zeros((4, 2))]), HEAD_AND_SHOULDERS)
    named = rf.decode(row, Roi(0.0, 0.0, float(rf.REFINE_SIZE)))
    assert math.dist(found.centre, named.centre) < 2.0 and abs(found.side / named.side - 1) < 0.05


def test_a_refiner_run_writes_weights_that_load_its_curves_and_resumes_exactly(tmp_path):
    labels = labelled_signer_photos(tmp_path / "photos")
    r = CliRunner().invoke(main, ["train", str(config(tmp_path, labels, 4)), "-q"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "run"
    refiner = rf.BoxRefiner(run / "refiner.pt")
    assert refiner.meta["iterations"] == 4
    boxes = refiner(np.zeros((240, 320, 3), np.uint8), [Roi(10, 20, 100), Roi(200, 40, 60)])
    assert len(boxes) == 2 and all(b.side > 0 for b in boxes)
    losses = list(csv.DictReader((run / "loss.csv").open()))
    assert [int(row["step"]) for row in losses] == [1, 2, 3, 4] and all(np.isfinite(float(x["loss"])) for x in losses)
    val = list(csv.DictReader((run / "validation.csv").open()))
    assert [int(row["step"]) for row in val] == [2, 4]
    assert all(0 <= float(row["good_after"]) <= 100 and float(row["median_log_error_after"]) >= 0 for row in val)
    # the shipped detector's boxes of the `real` photos, refined at every validation
    assert all(0 <= float(row["real_good_after"]) <= 100 and float(row["real_before"]) >= 0 for row in val)

    straight = rf.BoxRefiner(run / "refiner.pt").net
    cfg = section("train", config(tmp_path, labels, 4, "halves"))
    train_refiner(cfg, progress=False, max_steps=2)
    resumed = rf.BoxRefiner(train_refiner(cfg, resume=True, progress=False)).net
    for (name, ta), tb in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(ta, tb, atol=1e-5), name


def test_batchnorm_folds_into_the_refiner_exactly():
    torch.manual_seed(0)
    net = rf.RefinerNet(batchnorm=True)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(3, 3, rf.REFINE_SIZE, rf.REFINE_SIZE)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), rf.folded(net)(x), atol=1e-4)
