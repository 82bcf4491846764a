"""Warping neighbouring heatmaps onto frame t along flow tracks, and pooling them (section 2.3).

Tracks are built by composition: the position in frame t+k of pixel p of frame t is the
chain F(t→t+1), then F(t+1→t+2) sampled at the moved point, and so on; past frames use
the backward flows. Warping samples H(t+k) at the track positions (backward warping).

Everything runs at heatmap resolution on the CPU with OpenCV's remap (heatmaps are
H×W×J float32 arrays): a 7-channel 64×64 remap takes about 0.07 ms, whereas torch's
grid_sample on a busy 2-core machine took 20 times longer, so the temporal stage stays a
small fraction of the network time even at n = 15. On a GPU the heatmaps are copied to
the host once per frame (7×64×64 floats), which costs less than launching the kernels.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .nets import TemporalPool, weighted_pool

POOL_METHODS = ("parametric", "sum", "max")


def identity_positions(size: int) -> np.ndarray:
    """H×W×2 float32 positions (x, y) of every pixel."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.dstack([xs, ys])


def compose(flows: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """Positions reached by following a chain of flows from every pixel.

    flows[k] (H×W×2) takes frame k to frame k+1. Returns [pos_1, ..., pos_K] where pos_k
    (H×W×2) is where pixel p of frame 0 lies in frame k. Flow is sampled bilinearly, and
    clamped at the border, at each intermediate position.
    """
    pos = identity_positions(size)
    out = []
    for f in flows:
        pos = pos + cv2.remap(f, pos[..., 0], pos[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.append(pos)
    return out


def warp(heatmap: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sample one H×W×J heatmap at H×W×2 positions; outside the map is zero confidence."""
    return cv2.remap(heatmap, positions[..., 0], positions[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(heatmap.shape)


def pool(warped: np.ndarray, present: np.ndarray, method: str, layer: TemporalPool | None,
         weights: torch.Tensor | None = None) -> np.ndarray:
    """Combine (2n+1)×H×W×J warped maps into H×W×J.

    present marks which offsets exist (the window is truncated at video ends and cuts;
    absent slots are ignored). parametric uses the learned per-joint weights (`weights`,
    J×(2n+1), overrides the layer's own for a narrowed window); sum averages the present
    maps; max takes the per-pixel maximum.
    """
    mask = np.asarray(present, dtype=bool)
    if method == "sum":
        return warped[mask].mean(0)
    if method == "max":
        return warped[mask].max(0)
    if method == "parametric":
        if layer is None and weights is None:
            raise ValueError("parametric pooling needs trained pooling weights in the model file")
        w = (weights if weights is not None else layer.weight.detach()).float().cpu()
        maps = torch.from_numpy(np.ascontiguousarray(warped)).permute(0, 3, 1, 2)[None]  # 1×T×J×H×W
        out = weighted_pool(maps, w, torch.from_numpy(mask.astype(np.float32))[None])[0]
        return out.permute(1, 2, 0).numpy()
    raise ValueError(f"unknown pooling {method!r} (choose from {', '.join(POOL_METHODS)})")
