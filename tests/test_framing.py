"""augment.detector: photo crops cut at the shipped person detector's own box of each photo."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from synth import labelled_signer_photos

from posevid.config import annotate_settings, section
from posevid.io.images import ImageReader
from posevid.person.detector import PersonDetector
from posevid.person.roi import Roi, body_box
from posevid.person.tracking import MATCH_IOU, PHOTO_THRESHOLD
from posevid.pipeline import Annotator
from posevid.train.datasets import CACHE_MARGIN, augment, chosen_framing, read_posevid
from posevid.train.framing import FRAMING_FILE, WIDE_FRAMING_FILE, best_match, framings, offset, wide_view
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


@pytest.mark.parametrize("wide", [0.0, 1.0])
def test_a_run_with_augment_detector_frames_its_photo_crops_by_the_detector(tmp_path, photos, wide):
    cfg = section("train", None, preset="tiny", stage="fusion", out=str(tmp_path / "run"), batch_size=4, patch=96,
                  data=[{"type": "posevid", "labels": str(photos)}],
                  augment={**FIXED, "detector": 1.0, "detector_wide": wide})
    data = TrainingData(cfg, 64, 16)
    assert (tmp_path / "run" / FRAMING_FILE).exists()
    assert (tmp_path / "run" / WIDE_FRAMING_FILE).exists() == bool(wide)
    framing = data.framing[:, -1] if wide else data.framing         # with detector_wide 1: the wide one
    assert data.framing.shape == ((len(data), 2, 3) if wide else (len(data), 3))
    ok = [i for i in range(len(data)) if np.isfinite(framing[i]).all()]
    assert len(ok) >= len(data) - 1
    _, _, _, pts = data.crops(ok, [np.random.default_rng(i) for i in ok], cfg["augment"])
    for i, p in zip(ok, pts.numpy(), strict=True):
        dx, dy, dlog = framing[i]
        k = 64 / math.exp(dlog)
        box = body_box(p[:7], data.labelled[i])                       # the crop rule's box, where it lands
        assert np.allclose(box.centre, [32 - dx * k, 32 - dy * k], atol=0.5)
        assert np.isclose(box.side, k, rtol=0.01)


def test_a_wide_framing_is_the_box_a_user_gets_for_the_photo_shown_small(tmp_path, photos):
    """augment.detector_wide: each photo shown at its native size in a 1280×720 frame, framed as
    the tracker frames a small person there (the detector's box, then the pose network's own head
    and shoulders): the box the whole pipeline gives for that frame as a user's image."""
    samples = read_posevid(photos)
    wide = framings(samples, tmp_path / WIDE_FRAMING_FILE, wide=True)
    plain = framings(samples)
    ok = np.isfinite(wide).all(1)
    assert wide.shape == plain.shape and ok.sum() >= len(samples) - 1
    user = Annotator(annotate_settings(window=0))
    for i, (s, f) in enumerate(zip(samples, wide, strict=True)):
        if not ok[i]:
            continue
        frame, (x, y) = wide_view(cv2.cvtColor(cv2.imread(s.source), cv2.COLOR_BGR2RGB), i)
        image = tmp_path / f"wide{i}.png"
        cv2.imwrite(str(image), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        with ImageReader(image) as reader:
            res = next(user.run(reader))
        truth = body_box(s.joints, s.labelled)
        assert res.box is not None
        assert np.allclose(f, offset(res.box, Roi(truth.x + x, truth.y + y, truth.side)), atol=1e-4)
    assert not np.allclose(wide[ok], plain[ok], atol=0.02)                 # another framing than the photo's own
    # the cache is the pose model's too: for another model the framings are found again
    cache = tmp_path / WIDE_FRAMING_FILE
    with np.load(cache) as f:
        kept = dict(f)
    np.savez(cache, **{**kept, "framing": np.zeros_like(kept["framing"])})
    assert np.allclose(framings(samples, cache, wide=True), 0.0)
    np.savez(cache, **{**kept, "framing": np.zeros_like(kept["framing"]), "detector": np.array("another")})
    assert np.allclose(framings(samples, cache, wide=True), wide, equal_nan=True)


def test_a_share_of_detector_framed_crops_takes_the_wide_framing():
    """chosen_framing: with two framings a sample is cut at the wide one in augment.detector_wide
    of its detector-framed crops; with only one of them, at that one; with one row, as before."""
    both = np.array([[0.1, 0.0, 0.0], [-0.1, 0.0, 0.2]], np.float32)
    aug = {"detector": 1.0, "detector_wide": 0.3}
    picks = [chosen_framing(both, np.random.default_rng(k), aug)[0] for k in range(2000)]
    assert abs(np.mean(np.isclose(picks, -0.1)) - 0.3) < 0.04
    only_wide = both.copy()
    only_wide[0] = np.nan
    assert all(chosen_framing(only_wide, np.random.default_rng(k), aug)[0] == np.float32(-0.1) for k in range(20))
    assert chosen_framing(both, np.random.default_rng(0), {"detector": 0.0, "detector_wide": 1.0}) is None
    one = [chosen_framing(both[0], np.random.default_rng(k), {"detector": 0.5}) for k in range(400)]
    assert 0.4 < np.mean([o is not None for o in one]) < 0.6
