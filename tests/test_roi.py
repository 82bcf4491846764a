"""The crop rule: one box for training crops and for the tracker at inference (posevid/person/roi.py)."""
from __future__ import annotations

import numpy as np

from posevid.person.roi import BOX_DROP, BOX_SIDE, body_box, body_scale, crop, from_joints

# head, right shoulder, left shoulder, right elbow, left elbow, right wrist, left wrist (frame pixels)
POSE = np.array([[200, 100], [160, 160], [240, 160], [120, 220], [280, 220], [60, 140], [340, 140]], float)
ALL = np.ones(7, bool)


def test_box_is_square_around_the_shoulders_at_body_scale():
    scale = body_scale(POSE, ALL)
    assert scale == max(80.0, 1.6 * 60.0)  # shoulder width 80, head 60 above the shoulders
    box = body_box(POSE, ALL)
    assert box.side == BOX_SIDE * scale
    assert np.allclose([box.x + box.side / 2, box.y + box.side / 2], [200, 160 + BOX_DROP * scale])


def test_the_box_holds_outstretched_arms():
    box = body_box(POSE, ALL)  # wrists 1.5 shoulder widths out, at shoulder height
    inside = [(box.x <= x <= box.x + box.side) and (box.y <= y <= box.y + box.side) for x, y in POSE]
    assert all(inside)


def test_no_box_without_head_and_both_shoulders_for_training_but_a_fallback_for_tracking():
    lab = ALL.copy()
    lab[0] = False
    assert body_box(POSE, lab) is None and body_scale(POSE, lab) is None
    fallback = from_joints(POSE, lab)
    assert fallback is not None and fallback.side > 0
    assert from_joints(POSE, np.eye(7, dtype=bool)[0]) is None  # one joint: no box at all


def test_detector_targets_decode_to_the_crop_rule_box():
    """What the detector is trained to output for a person decodes to that person's crop-rule
    box, in frame pixels, however the frame was scaled for the detector."""
    import torch

    from posevid.person.detector import decode
    from posevid.person.roi import Roi
    from posevid.train.detector import targets

    box = body_box(POSE, ALL)
    scale = 0.5  # frame pixels to detector input pixels
    small = Roi(box.x * scale, box.y * scale, box.side * scale)
    score, reg, mask, care = targets([[small]], 384, 224)
    assert bool((care == 1).all())  # no unsure region: every cell counts
    out = torch.cat([torch.logit(score.clamp(1e-4, 1 - 1e-4))[:, None], reg], 1)[0]
    found = decode(out, scale)
    assert len(found) == 1
    r = found[0].roi
    assert np.allclose([r.x, r.y, r.side], [box.x, box.y, box.side], atol=0.5)


def test_crop_maps_the_box_onto_the_input_and_back():
    image = np.zeros((300, 400, 3), np.uint8)
    image[150:170, 190:210] = 255  # a white square at the shoulders' midpoint
    box = body_box(POSE, ALL)
    inp = crop(image, box, 128)
    ys, xs = np.nonzero(inp[..., 0] > 128)
    centre = np.array([[xs.mean(), ys.mean()]])
    assert np.allclose(box.to_frame(centre, 128), [[199.5, 159.5]], atol=1.5)
