"""Flow, track composition, warping and pooling against known motion and hand computation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from synth import texture

from posevid.flow import flow_image, make_flow, to_heatmap
from posevid.heatmaps import targets
from posevid.nets import TemporalPool, weighted_pool
from posevid.temporal import compose, identity_positions, pool, warp

SIZE = 128   # flow image
HM = 64      # heatmap


def shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    import cv2

    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("method", ["dis", "farneback", "deepflow"])
def test_flow_recovers_known_translation(method):
    base = texture(256, 256, seed=3)
    a = flow_image(base, SIZE)
    b = flow_image(shifted(base, 6, -4), SIZE)  # content moves +6, -4 input pixels
    f = to_heatmap(make_flow(method)(a, b), HM)
    centre = f[16:48, 16:48].reshape(-1, 2).T
    # 6 input pixels = 1.5 heatmap pixels
    assert np.median(centre[0]) == pytest.approx(1.5, abs=0.25)
    assert np.median(centre[1]) == pytest.approx(-1.0, abs=0.25)


def test_composed_tracks_follow_motion_over_several_frames():
    base = texture(256, 256, seed=5)
    frames = [flow_image(shifted(base, 4 * k, 2 * k), SIZE) for k in range(5)]
    fn = make_flow("dis")
    flows = [to_heatmap(fn(frames[k], frames[k + 1]), HM) for k in range(4)]
    tracks = compose(flows, HM)
    ident = identity_positions(HM)
    for k, pos in enumerate(tracks, start=1):
        d = np.median((pos - ident)[20:44, 20:44].reshape(-1, 2), axis=0)
        assert d[0] == pytest.approx(1.0 * k, abs=0.3)   # 4 px per frame = 1 heatmap px
        assert d[1] == pytest.approx(0.5 * k, abs=0.3)


def test_warped_peak_lands_where_the_content_was():
    # a joint at heatmap (40, 30) in frame t+3, content moved by (+1, +0.5) per frame:
    # in frame t the joint was at (37, 28.5).
    flows = [np.dstack([np.full((HM, HM), 1.0), np.full((HM, HM), 0.5)]).astype(np.float32) for _ in range(3)]
    pos = compose(flows, HM)[-1]
    x_in, y_in = (40 + 0.5) * 4 - 0.5, (30 + 0.5) * 4 - 0.5
    hm = targets(np.array([[x_in, y_in]] * 7), np.ones(7, bool), HM, 256, 1.5).transpose(1, 2, 0)
    warped = warp(np.ascontiguousarray(hm), pos)
    assert warped.shape == (HM, HM, 7)
    y, x = np.unravel_index(warped[..., 6].argmax(), warped.shape[:2])
    assert (x, y) in [(37, 28), (37, 29)]


def test_parametric_pooling_equals_hand_computed_sum():
    torch.manual_seed(0)
    maps = torch.rand(5, 7, 4, 4)
    w = torch.rand(7, 5)
    want = torch.einsum("tjhw,jt->jhw", maps, w)
    got = pool(maps.permute(0, 2, 3, 1).numpy(), np.ones(5), "parametric", None, w)  # H×W×J layout
    assert np.allclose(got, want.permute(1, 2, 0).numpy(), atol=1e-6)
    layer = TemporalPool(2)
    layer.weight.data.copy_(w)
    assert torch.allclose(layer(maps[None])[0], want, atol=1e-6)


def test_truncated_window_rescales_weights_to_full_sum():
    maps = torch.ones(5, 7, 2, 2)
    w = torch.tensor([[0.1, 0.2, 0.4, 0.2, 0.1]] * 7)
    present = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0])
    got = weighted_pool(maps[None], w, present[None])[0]
    assert torch.allclose(got, torch.ones_like(got))  # (0.4+0.2+0.1) rescaled to 1.0


def test_sum_and_max_pooling():
    maps = np.arange(3 * 2 * 2 * 7, dtype=np.float32).reshape(3, 2, 2, 7)
    present = np.array([1.0, 1.0, 0.0])
    assert np.allclose(pool(maps, present, "sum", None), maps[:2].mean(0))
    assert np.allclose(pool(maps, present, "max", None), maps[:2].max(0))
    assert np.allclose(pool(maps, np.ones(3), "max", None), maps.max(0))


def test_narrowed_window_keeps_central_weights():
    layer = TemporalPool(3)
    layer.weight.data.copy_(torch.arange(7.0).repeat(7, 1) + 1)
    w = layer.narrowed(1)
    assert w.shape == (7, 3)
    assert torch.allclose(w.sum(1), layer.weight.sum(1))
    with pytest.raises(ValueError):
        layer.narrowed(4)
