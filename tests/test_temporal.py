"""Flow, track composition, warping and pooling against known motion and hand computation."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from synth import texture

from posevid.network.heatmaps import targets
from posevid.network.nets import TemporalPool, weighted_pool
from posevid.temporal.flow import flow_image, make_flow, to_heatmap
from posevid.temporal.warp import StackPool, WindowPool, identity_positions, pack, warp_window

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


def reference_chain(first_flow: np.ndarray, packs: list[np.ndarray], joints: int, direction: int):
    """The method written out for one chain, one remap per frame (the reference warp_window's
    batched atlas is checked against): positions start at identity + the first flow, each
    frame's pack is sampled there, and its flow (forward or backward) moves them on."""
    pos = identity_positions(first_flow.shape[0]) + first_flow
    c = joints if direction > 0 else joints + 2
    for p in packs:
        sampled = cv2.remap(p, pos, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        yield pos.copy(), sampled
        pos += sampled[..., c : c + 2]


def peak(hm: np.ndarray, joint: int = 6) -> tuple[int, int]:
    y, x = np.unravel_index(hm[..., joint].argmax(), hm.shape[:2])
    return int(x), int(y)


def delta_heatmap(x: float, y: float) -> np.ndarray:
    x_in, y_in = (x + 0.5) * 4 - 0.5, (y + 0.5) * 4 - 0.5
    return targets(np.array([[x_in, y_in]] * 7), np.ones(7, bool), HM, 256, 1.5).transpose(1, 2, 0)


def test_composed_tracks_carry_a_joint_back_over_several_frames():
    """Real DIS flows of content moving 4, 2 input pixels a frame (1, 0.5 heatmap pixels): a joint
    seen only in frame t+4 lands, warped onto frame t along the composed track, 4 and 2 heatmap
    pixels back. DIS's ULTRAFAST preset (our `dis`) carries a sub-pixel bias of up to 0.1 heatmap
    px a step on this coarse grid, which composition adds up."""
    base = texture(256, 256, seed=5)
    frames = [flow_image(shifted(base, 4 * k, 2 * k), SIZE) for k in range(5)]
    fn = make_flow("dis")
    flows = [to_heatmap(fn(frames[k], frames[k + 1]), HM) for k in range(4)]
    empty = np.zeros((HM, HM, 7), np.float32)
    packs = [pack(empty, f, None) for f in flows] + [pack(delta_heatmap(40, 34), None, None)]
    stack, present = warp_window(packs, [0], [(4, 0)], 7, StackPool(4, 7))[0]
    assert present.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    x, y = peak(stack[8])
    assert abs(x - 36) <= 1 and abs(y - 32) <= 1


def test_warped_peak_lands_where_the_content_was():
    # a joint at heatmap (40, 30) in frame t+3, content moved by (+1, +0.5) per frame:
    # in frame t the joint was at (37, 28.5).
    flow = np.dstack([np.full((HM, HM), 1.0), np.full((HM, HM), 0.5)]).astype(np.float32)
    empty = np.zeros((HM, HM, 7), np.float32)
    packs = [pack(empty, flow, None)] * 3 + [pack(delta_heatmap(40, 30), None, None)]  # t .. t+3
    stack, present = warp_window(packs, [0], [(3, 0)], 7, StackPool(3, 7))[0]
    assert stack.shape == (7, HM, HM, 7) and present.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert not stack[4].any()  # t+1 held no joint
    assert peak(stack[6]) in [(37, 28), (37, 29)]


def test_parametric_pooling_equals_hand_computed_sum():
    torch.manual_seed(0)
    maps = torch.rand(5, 7, 4, 4)
    w = torch.rand(7, 5)
    want = torch.einsum("tjhw,jt->jhw", maps, w)
    pooled = WindowPool("parametric", 2, w)
    for slot in (2, 3, 1, 4, 0):  # the frame itself first, then neighbours as they are warped
        pooled.add(slot, maps[slot].permute(1, 2, 0).numpy())  # H×W×J layout
    assert np.allclose(pooled.result(), want.permute(1, 2, 0).numpy(), atol=1e-6)
    layer = TemporalPool(2)
    layer.weight.data.copy_(w)
    assert torch.allclose(layer(maps[None])[0], want, atol=1e-6)


def test_truncated_window_rescales_weights_to_full_sum():
    maps = torch.ones(5, 7, 2, 2)
    w = torch.tensor([[0.1, 0.2, 0.4, 0.2, 0.1]] * 7)
    present = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0])
    got = weighted_pool(maps[None], w, present[None])[0]
    assert torch.allclose(got, torch.ones_like(got))  # (0.4+0.2+0.1) rescaled to 1.0


def test_streamed_pooling_matches_training_pooling_on_truncated_windows():
    # inference pools slot by slot; training pools the stacked window with nets.weighted_pool
    torch.manual_seed(1)
    maps = torch.rand(7, 7, 6, 6)
    w = torch.randn(7, 7) * 0.2 + 0.3
    present = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])  # cut two frames after t
    want = weighted_pool(maps[None], w, present[None])[0].permute(1, 2, 0).numpy()
    pooled = WindowPool("parametric", 3, w)
    for slot in (3, 4, 2, 1):
        pooled.add(slot, maps[slot].permute(1, 2, 0).numpy())
    assert np.allclose(pooled.result(), want, atol=1e-5)


def test_sum_and_max_pooling():
    maps = np.arange(3 * 2 * 2 * 7, dtype=np.float32).reshape(3, 2, 2, 7)
    for method, want in (("sum", maps[:2].mean(0)), ("max", maps[:2].max(0))):
        pooled = WindowPool(method, 1)
        pooled.add(1, maps[1])
        pooled.add(0, maps[0])
        assert np.allclose(pooled.result(), want)
    with pytest.raises(ValueError):
        WindowPool("parametric", 1)  # no weights


def test_narrowed_window_keeps_central_weights():
    layer = TemporalPool(3)
    layer.weight.data.copy_(torch.arange(7.0).repeat(7, 1) + 1)
    w = layer.narrowed(1)
    assert w.shape == (7, 3)
    assert torch.allclose(w.sum(1), layer.weight.sum(1))
    with pytest.raises(ValueError):
        layer.narrowed(4)


@pytest.mark.parametrize("method", ["parametric", "sum", "max"])
def test_pooling_whole_packs_equals_pooling_their_heatmaps(method):
    """The pipeline pools warped packs (heatmap plus flow channels) for speed; the flow channels
    must not leak into the result."""
    rng = np.random.default_rng(3)
    packs = [pack(rng.random((HM, HM, 7), dtype=np.float32), rng.normal(size=(HM, HM, 2)).astype(np.float32),
                  rng.normal(size=(HM, HM, 2)).astype(np.float32)) for _ in range(5)]
    w = torch.rand(7, 5) if method == "parametric" else None
    whole, maps = WindowPool(method, 2, w, joints=7), WindowPool(method, 2, w, joints=7)
    for slot in (2, 0, 4, 1):  # slot 3 missing, as at a cut
        whole.add(slot, packs[slot])
        maps.add(slot, np.ascontiguousarray(packs[slot][..., :7]))
    first = whole.result()
    assert first.shape == (HM, HM, 7)
    assert np.allclose(first, maps.result(), atol=1e-6)
    whole.reset()  # reuse keeps the weight images (fresh() copies share them)
    for slot in (2, 3):
        whole.add(slot, packs[slot])
    again = WindowPool(method, 2, w, joints=7)
    for slot in (2, 3):
        again.add(slot, packs[slot])
    assert np.allclose(whole.result(), again.result(), atol=1e-6)
    assert not np.allclose(first, whole.result())  # the first result was not overwritten by reuse


@pytest.mark.parametrize("method", ["parametric", "sum", "max"])
def test_warping_many_windows_at_once_equals_one_window_at_a_time(method):
    """warp_window (the pipeline's batched path) against the method written out one chain at a
    time (reference_chain) and a WindowPool per frame, with chains cut short on either side and
    flows that carry tracks off the map."""
    rng = np.random.default_rng(7)
    n, count = 3, 9
    flows = [cv2.GaussianBlur(rng.normal(0, 3, (HM, HM, 2)).astype(np.float32), (0, 0), 6) * 4 for _ in range(count)]
    hms = [cv2.GaussianBlur(rng.random((HM, HM, 7), dtype=np.float32), (0, 0), 2) for _ in range(count)]
    packs = [pack(hms[i], flows[i], -flows[i - 1] if i else None) for i in range(count)]
    frames = [2, 3, 4, 6, 8]
    reach = [(3, 2), (3, 3), (0, 1), (2, 3), (0, 3)]
    w = torch.rand(7, 2 * n + 1) if method == "parametric" else None
    batched = warp_window(packs, frames, reach, 7, WindowPool(method, n, w, joints=7))
    for f, (later, earlier), got in zip(frames, reach, batched, strict=True):
        ref = WindowPool(method, n, w, joints=7)
        ref.add(n, packs[f])
        for step, side, chain in ((1, 7, packs[f + 1 : f + 1 + later]), (-1, 9, packs[f - earlier : f][::-1])):
            if chain:
                for i, (_, m) in enumerate(reference_chain(packs[f][..., side : side + 2], chain, 7, step)):
                    ref.add(n + step * (i + 1), m)
        assert got.shape == (HM, HM, 7)
        # remap interpolates in 1/32-pixel steps; a position plus its tile's offset in the atlas
        # can round to the neighbouring step, and composed tracks carry that on: a few values
        # move by up to ~1e-3 of the maps' range, the mean by less than a millionth
        want = ref.result()
        assert np.abs(got - want).max() < 2e-3 * np.abs(want).max()
        assert np.abs(got - want).mean() < 1e-5 * np.abs(want).mean()


def test_training_stacks_pool_to_what_inference_gives(synth_video):
    """Training the pooling layer keeps each frame's warped stack (keep_stacks); pooled, those
    stacks give the heatmaps inference gives, with the shipped model on a real encoded video,
    the truncated windows at both ends included: one warp serves both."""
    from posevid import Annotator, VideoReader, settings

    video, _ = synth_video
    maps, stacks = {}, []
    for keep in (False, True):
        ann = Annotator(settings(roi="letterbox", video=False, csv=False, device="cpu"))
        assert ann.window > 0
        with VideoReader(video) as r:
            states = list(ann.run(r, keep_stacks=keep))
        maps[keep] = [st.heatmap for st in states]
        if keep:
            stacks = [st.present for st in states]
    assert len(maps[False]) == len(maps[True]) == 24
    n = ann.window
    assert stacks[0][:n].sum() == 0 and stacks[0][n:].sum() == n + 1  # no frames before the first
    for got, want in zip(maps[False], maps[True], strict=True):
        assert np.allclose(got, want, atol=1e-5)
