"""augment.detector: photo crops cut at the shipped person detector's own box of each photo."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from synth import labelled_signer_photos

from posevid.config import section
from posevid.person.detector import PersonDetector
from posevid.person.roi import body_box
from posevid.person.tracking import MATCH_IOU, PHOTO_THRESHOLD
from posevid.train.datasets import CACHE_MARGIN, augment, read_posevid
from posevid.train.framing import FRAMING_FILE, best_match, framings, offset
from posevid.train.pose import TrainingData

FIXED = {"crop": 1.0, "shift": 0.0, "flip": 0.0, "rotate": 0.0, "scale": 0.0, "colour": 0.0}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return labelled_signer_photos(tmp_path_factory.mktemp("signer") / "photos")


def test_a_framing_is_the_detectors_box_relative_to_the_crop_rule_box_and_is_kept(tmp_path, photos):
    samples = read_posevid(photos)
    cache = tmp_path / FRAMING_FILE
    found = framings(samples, cache)
    assert found.shape == (len(samples), 3)
    assert np.isfinite(found).all(1).sum() >= len(samples) - 1      # the signer is found in (nearly) every photo
    detector = PersonDetector()
    for s, f in zip(samples, found, strict=True):
        truth = body_box(s.joints, s.labelled)
        rgb = cv2.cvtColor(cv2.imread(s.source), cv2.COLOR_BGR2RGB)
        box = best_match(detector(rgb, PHOTO_THRESHOLD), truth, MATCH_IOU)
        if box is None:
            assert np.isnan(f).all()
        else:
            assert np.allclose(f, offset(box, truth), atol=1e-5)
            assert abs(f[2]) < math.log(1.6)                       # the same person, not another
    # a second run reads the kept framings: with a photo gone, only the cache still knows it
    (photos.parent / "p0.png").rename(tmp_path / "p0.png")
    try:
        assert np.isnan(framings(samples)[0]).all()
        assert np.allclose(framings(samples, cache), found, equal_nan=True)
    finally:
        (tmp_path / "p0.png").rename(photos.parent / "p0.png")


@pytest.mark.parametrize("framing", [(0.1, -0.05, math.log(1.3)), (-0.2, 0.1, math.log(0.8))])
def test_a_detector_framed_crop_is_cut_at_the_detectors_box(framing):
    """The crop rule's box centre lands where the detector's box puts it, at its scale; with
    augment.detector 0 (or no framing) the crop is the crop rule's box as before."""
    size, p = 64, 96
    box = p / CACHE_MARGIN
    patch = np.zeros((p, p, 3), np.uint8)
    joints = np.array([[p / 2, p / 2], [p / 2 + box / 4, p / 2]], np.float32)  # the box centre, a point right of it
    dx, dy, dlog = framing
    _, pts, _ = augment(patch, joints, np.ones(2, bool), np.random.default_rng(0), {**FIXED, "detector": 1.0}, size,
                        np.array(framing, np.float32))
    k = size / math.exp(dlog)                                      # input pixels per box side
    assert np.allclose(pts[0], [size / 2 - dx * k, size / 2 - dy * k], atol=1e-3)
    assert np.isclose(pts[1, 0] - pts[0, 0], k / 4, atol=1e-3)
    for aug, f in (({**FIXED, "detector": 0.0}, np.array(framing, np.float32)),
                   ({**FIXED, "detector": 1.0}, np.full(3, np.nan, np.float32))):
        _, plain, _ = augment(patch, joints, np.ones(2, bool), np.random.default_rng(0), aug, size, f)
        assert np.allclose(plain[0], [size / 2, size / 2], atol=1e-3)


def test_a_run_with_augment_detector_frames_its_photo_crops_by_the_detector(tmp_path, photos):
    cfg = section("train", None, preset="tiny", stage="fusion", out=str(tmp_path / "run"), batch_size=4, patch=96,
                  data=[{"type": "posevid", "labels": str(photos)}], augment={**FIXED, "detector": 1.0})
    data = TrainingData(cfg, 64, 16)
    assert (tmp_path / "run" / FRAMING_FILE).exists()
    ok = [i for i in range(len(data)) if np.isfinite(data.framing[i]).all()]
    assert len(ok) >= len(data) - 1
    _, _, _, pts = data.crops(ok, [np.random.default_rng(i) for i in ok], cfg["augment"])
    for i, p in zip(ok, pts.numpy(), strict=True):
        dx, dy, dlog = data.framing[i]
        k = 64 / math.exp(dlog)
        box = body_box(p[:7], data.labelled[i])                       # the crop rule's box, where it lands
        assert np.allclose(box.centre, [32 - dx * k, 32 - dy * k], atol=0.5)
        assert np.isclose(box.side, k, rtol=0.01)
