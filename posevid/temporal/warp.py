"""Warping neighbouring heatmaps onto frame t along flow tracks, and pooling them (section 2.3).

Tracks are built by composition: the position in frame t+k of pixel p of frame t is the
chain F(t→t+1), then F(t+1→t+2) sampled at the moved point, and so on; past frames use
the backward flows. Warping samples H(t+k) at the track positions (backward warping).
`warp_window` is the one implementation, for inference and for training the pooling layer.

Both happen in one OpenCV remap per neighbour: each frame's heatmap and its two flows are
packed into one 12-channel H×W image (`pack`), and since following the track and warping
the heatmap sample the same frame at the same positions, one bilinear remap of the pack
gives the warped heatmap and the next flow step together. OpenCV's remap of 8 or 12 float
channels costs about what 4 does and less than 7 or 2 (measured on 2 cores), so a slot
costs a third of a separate track step and warp; with the pooling accumulated as slots
arrive (`WindowPool`) instead of stacking 2n+1 maps, the temporal stage at n = 15 stays a
small fraction of the network time. Everything runs on the CPU at heatmap resolution
(torch's grid_sample was 20 times slower on a busy 2-core machine); on a GPU the heatmaps
are copied to the host once per frame (7×64×64 floats).
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..choices import POOL_METHODS
from ..errors import ModelError, PosevidError
from ..joints import NUM_JOINTS

#: Channels of a packed frame: J heatmap channels, forward flow (2), backward flow (2), padding.
PACK_CHANNELS = 12


@functools.cache
def identity_positions(size: int) -> np.ndarray:
    """H×W×2 float32 positions (x, y) of every pixel; built once per size (read-only), since
    every warped window starts from it twice a frame."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    grid = np.dstack([xs, ys])
    grid.setflags(write=False)
    return grid


def pack(heatmap: np.ndarray, fwd: np.ndarray | None, bwd: np.ndarray | None) -> np.ndarray:
    """One H×W×12 float32 image of a frame: heatmap (J ≤ 7 channels), flow to the next frame,
    flow to the previous frame (zeros where missing), zero padding."""
    h, w, j = heatmap.shape
    if j + 4 > PACK_CHANNELS:
        raise ValueError(f"a pack holds at most {PACK_CHANNELS - 4} joints, not {j}")
    out = np.zeros((h, w, PACK_CHANNELS), dtype=np.float32)
    out[..., :j] = heatmap
    if fwd is not None:
        out[..., j : j + 2] = fwd
    if bwd is not None:
        out[..., j + 2 : j + 4] = bwd
    return out


class WindowPool:
    """Pools the 2n+1 warped maps of one frame as they arrive, without stacking them.

    parametric: the learned per-joint weights (J×(2n+1)); slots that never arrive (the window
    is truncated at video ends and cuts) are left out and the remaining weights rescaled to
    the full per-joint sum, exactly as nets.weighted_pool does in training. sum: the mean
    of the present maps. max: their per-pixel maximum.

    Maps are H×W×J heatmaps, or whole packs (H×W×PACK_CHANNELS, heatmap first) as warp_window
    samples them: the flow channels are pooled along (with zero weight) and dropped by
    result(). The temporal stage is this loop, so it is made cheap: packs are contiguous
    where a J-channel view of them is strided, and each parametric slot is one OpenCV
    multiply-accumulate against a full-size weight image built once per map shape (7.5 µs
    a slot at 64×64×12, where numpy's broadcast multiply by a 12-vector took 31). One pool
    serves a whole video as a template: fresh() gives each frame an empty pool that shares
    those weight images.
    """

    def __init__(self, method: str, window: int, weights: torch.Tensor | np.ndarray | None = None,
                 joints: int | None = None):
        if method not in POOL_METHODS:
            raise ValueError(f"unknown pooling {method!r} (choose from {', '.join(POOL_METHODS)})")
        if method == "parametric":
            if weights is None:
                raise ValueError("parametric pooling needs trained pooling weights in the model file")
            w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else weights
            self.weights = np.asarray(w, dtype=np.float32)
            if self.weights.shape[1] != 2 * window + 1:
                raise ValueError(f"{self.weights.shape[1]} pooling weights for a window of {2 * window + 1}")
            joints = self.weights.shape[0]
        self.method, self.window, self.joints = method, window, joints
        self._images: dict[tuple[int, ...], np.ndarray] = {}  # per map shape: (2n+1)×H×W×C weights
        self.reset()

    def fresh(self) -> WindowPool:
        """An empty pool of the same kind that shares this one's weight images."""
        other = copy.copy(self)
        other.reset()
        return other

    def reset(self) -> None:
        """Forget the maps added so far (the weight images stay)."""
        self.acc: np.ndarray | None = None
        self.present_weight: np.ndarray | None = None
        self.count = 0

    def _weight_image(self, slot: int, shape: tuple[int, ...]) -> np.ndarray:
        """Slot's per-joint weights spread over a whole map of this shape, zero beyond J channels."""
        images = self._images.get(shape)
        if images is None:
            padded = np.zeros((self.weights.shape[1], shape[-1]), dtype=np.float32)
            padded[:, : self.joints] = self.weights.T
            images = np.ascontiguousarray(np.broadcast_to(padded[:, None, None, :], (len(padded), *shape)))
            self._images[shape] = images
        return images[slot]

    def add(self, slot: int, warped: np.ndarray) -> None:
        """Add the map of offset slot − n (slot n is the frame itself)."""
        self.count += 1
        if self.method == "parametric":
            warped = np.asarray(warped, dtype=np.float32)  # rows may be strided (an atlas column), pixels not
            if self.acc is None:
                self.acc = np.zeros(warped.shape, dtype=np.float32)
                self.present_weight = np.zeros(self.weights.shape[0], dtype=np.float32)
            cv2.accumulateProduct(warped, self._weight_image(slot, warped.shape), self.acc)
            self.present_weight += self.weights[:, slot]
        elif self.acc is None:
            self.acc = np.array(warped, dtype=np.float32, copy=True)
        elif self.method == "sum":
            self.acc += warped
        else:
            np.maximum(self.acc, warped, out=self.acc)

    def result(self) -> np.ndarray:
        """The pooled H×W×J map."""
        if self.acc is None:
            raise ValueError("nothing to pool: the frame's own map was never added")
        acc = self.acc[..., : self.joints]
        if self.method == "parametric":
            total = self.weights.sum(1)
            return acc * (total / np.maximum(self.present_weight, 1e-6))
        if self.method == "sum":
            return acc / self.count
        return acc.copy()


def run_pool(method: str, n: int, layer: torch.nn.Module | None, model: object) -> WindowPool | None:
    """A run's pool template for window n (None when n = 0): with `parametric`, the model's
    learned pooling layer narrowed to n (an error naming the model file when it has none, or a
    smaller one); each frame pools into a fresh() copy sharing its weight images."""
    if n <= 0:
        return None
    weights = None
    if method == "parametric":
        if layer is None:
            raise ModelError(f"{model}: has no pooling layer; use --pool sum or max")
        try:
            weights = layer.narrowed(n)
        except ValueError as e:
            raise PosevidError(str(e)) from None
    return WindowPool(method, n, weights, joints=NUM_JOINTS)


class StackPool:
    """Keeps every warped map of a frame's window instead of pooling them: the stacks that
    training the pooling layer fits its weights to, from the very warp inference pools
    (warp_window), so that the layer learns on what it will be given. fresh(), add() and
    result() as WindowPool's; result() is ((2n+1)×H×W×J maps, (2n+1) slots present 0/1)."""

    def __init__(self, window: int, joints: int):
        self.window, self.joints = window, joints
        self.maps: dict[int, np.ndarray] = {}

    def fresh(self) -> StackPool:
        return StackPool(self.window, self.joints)

    def add(self, slot: int, warped: np.ndarray) -> None:
        self.maps[slot] = np.array(warped[..., : self.joints], dtype=np.float32)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.maps[self.window].shape[:2]
        stack = np.zeros((2 * self.window + 1, h, w, self.joints), dtype=np.float32)
        present = np.zeros(2 * self.window + 1, dtype=np.float32)
        for slot, m in self.maps.items():
            stack[slot], present[slot] = m, 1.0
        return stack, present


#: Zero border around each tile of warp_window's atlas: with sampling positions clamped to
#: within 1.5 pixels of the map, every bilinear tap outside the map reads a zero, as remap's
#: BORDER_CONSTANT does for a single map.
ATLAS_PAD = 2


def warp_window(packs: Sequence[np.ndarray], frames: Sequence[int], reach: Sequence[tuple[int, int]],
                joints: int, pool: WindowPool | StackPool) -> list:
    """Warp and pool the windows of several frames at once, with one remap per step for all of
    them: the one warp of posevid (inference pools with a WindowPool, training the pooling layer
    keeps the stacks with a StackPool).

    Each frame's chain starts at the frame with its own flow (forward for later frames,
    backward for earlier ones); at every step, sampling the next frame's pack at the track's
    positions gives both that frame's warped heatmap and the flow that moves the track on.

    packs are the packed frames of a stretch of consecutive video frames; frames are the
    positions in it of the frames to pool; reach gives, per frame, how many later and how
    many earlier neighbours its chains reach (same shot, every flow on the way present);
    pool is a WindowPool of the right method and window whose fresh() copies pool each
    frame. All packs are laid side by side in one zero-bordered atlas, and each step samples
    the next frame of every chain in one remap of an H×(W·frames) position map: at 64×64 the
    per-call overhead of 30 small remaps, position updates and pool additions a frame was
    more than their arithmetic. Outside the map, heatmaps and flows are zero: a track that
    leaves the picture stays where it left. Returns each frame's pool result (the pooled
    H×W×J map, or StackPool's stack), in the order of `frames`.
    """
    h, w, c = packs[0].shape
    n = pool.window
    tile = w + 2 * ATLAS_PAD
    atlas = np.zeros((h + 2 * ATLAS_PAD, tile * len(packs), c), dtype=np.float32)
    for j, p in enumerate(packs):
        atlas[ATLAS_PAD : ATLAS_PAD + h, j * tile + ATLAS_PAD : j * tile + ATLAS_PAD + w] = p
    pools = []
    for f in frames:
        pools.append(pool.fresh())
        pools[-1].add(n, packs[f])
    ident = identity_positions(w)
    for direction, side in ((1, 0), (-1, 1)):
        chains = [b for b, r in enumerate(reach) if r[side] > 0]
        if not chains:
            continue
        flow = joints if direction > 0 else joints + 2  # the pack channels that step on
        pos = np.concatenate([ident + packs[frames[b]][..., flow : flow + 2] for b in chains], axis=1)
        for step in range(1, max(reach[b][side] for b in chains) + 1):
            sources = [min(max(frames[b] + direction * step, 0), len(packs) - 1) for b in chains]
            offset = np.repeat(np.array(sources, dtype=np.float32) * tile + ATLAS_PAD, w)
            where = np.clip(pos, -1.5, w + 0.5)  # square maps: one bound serves x and y
            where[..., 0] += offset
            where[..., 1] += ATLAS_PAD
            sampled = cv2.remap(atlas, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            for a, b in enumerate(chains):
                if step <= reach[b][side]:
                    pools[b].add(n + direction * step, sampled[:, a * w : (a + 1) * w])
            pos += sampled[..., flow : flow + 2]
    return [p.result() for p in pools]
