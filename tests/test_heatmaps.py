from __future__ import annotations

import numpy as np
import pytest

from posevid.network.heatmaps import peaks, targets


@pytest.mark.parametrize("x,y", [(100.0, 50.0), (37.3, 201.7), (128.9, 128.2)])
def test_peak_decoding_recovers_target_position_below_the_pixel(x, y):
    hm = targets(np.array([[x, y]] * 7), np.ones(7, bool), 64, 256, 1.5)
    pts, conf = peaks(hm, 256)
    assert np.abs(pts - [x, y]).max() < 0.6  # < 0.15 heatmap pixel
    assert conf.min() > 0.9


def test_unlabelled_and_far_outside_joints_have_empty_targets():
    hm = targets(np.array([[10.0, 10.0], [900.0, 900.0]]), np.array([False, True]), 64, 256, 1.5)
    assert hm.max() == 0.0
