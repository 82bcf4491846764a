"""Heatmap coordinates: Gaussian targets for training and peak decoding at inference.

The one place that knows how a heatmap pixel relates to a network-input pixel:
heatmap coordinate h = (x + 0.5)·H/S − 0.5 for input pixel x (H = 64, S = 256).
"""
from __future__ import annotations

import numpy as np
import torch


def input_to_heatmap(x: np.ndarray | float, heatmap_size: int, input_size: int):
    return (x + 0.5) * heatmap_size / input_size - 0.5


def heatmap_to_input(h: np.ndarray | float, heatmap_size: int, input_size: int):
    return (h + 0.5) * input_size / heatmap_size - 0.5


def targets(joints: np.ndarray, labelled: np.ndarray, size: int, input_size: int, sigma: float) -> np.ndarray:
    """Gaussian heatmaps (peak 1) at each labelled joint, J×size×size; zero maps elsewhere.

    The paper's Gaussian is normalised (peak 1/(2πσ²) ≈ 0.07); a peak of 1 gives the same
    argmax with a better-scaled loss, and makes the peak value read as a confidence.
    """
    out = np.zeros((len(joints), size, size), dtype=np.float32)
    g = np.arange(size, dtype=np.float32)
    for j, (x, y) in enumerate(joints):
        if not labelled[j]:
            continue
        hx, hy = input_to_heatmap(x, size, input_size), input_to_heatmap(y, size, input_size)
        if -3 * sigma < hx < size + 3 * sigma and -3 * sigma < hy < size + 3 * sigma:
            out[j] = np.exp(-((g[None, :] - hx) ** 2 + (g[:, None] - hy) ** 2) / (2 * sigma**2))
    return out


def peaks(heatmaps: torch.Tensor | np.ndarray, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions in network-input pixels and confidences from J×H×W heatmaps.

    The position of maximum confidence, refined below the pixel by fitting a parabola
    through the peak and its two neighbours along each axis.
    """
    hm = heatmaps.detach().float().cpu().numpy() if isinstance(heatmaps, torch.Tensor) else np.asarray(heatmaps)
    j, h, w = hm.shape
    flat = hm.reshape(j, -1)
    idx = flat.argmax(1)
    conf = flat[np.arange(j), idx]
    ys, xs = np.divmod(idx, w)
    pos = np.stack([xs, ys], 1).astype(np.float64)
    for k in range(j):
        x, y = xs[k], ys[k]
        if 0 < x < w - 1:
            pos[k, 0] += _vertex(hm[k, y, x - 1], hm[k, y, x], hm[k, y, x + 1])
        if 0 < y < h - 1:
            pos[k, 1] += _vertex(hm[k, y - 1, x], hm[k, y, x], hm[k, y + 1, x])
    return heatmap_to_input(pos, h, input_size).astype(np.float32), conf.astype(np.float32)


def _vertex(left: float, centre: float, right: float) -> float:
    denom = left - 2 * centre + right
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))
