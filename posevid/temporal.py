"""Warping neighbouring heatmaps onto frame t along flow tracks, and pooling them (section 2.3).

Tracks are built by composition: the position in frame t+k of pixel p of frame t is the
chain F(t→t+1), then F(t+1→t+2) sampled at the moved point, and so on; past frames use
the backward flows. Warping samples H(t+k) at the track positions (backward warping).
Everything runs at heatmap resolution and is vectorised over joints and the window.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .nets import TemporalPool, weighted_pool

POOL_METHODS = ("parametric", "sum", "max")


def _grid(pos: torch.Tensor) -> torch.Tensor:
    """Pixel positions B×H×W×2 to grid_sample's [-1, 1] coordinates (align_corners=True)."""
    h, w = pos.shape[1:3]
    return torch.stack([pos[..., 0] * (2.0 / (w - 1)) - 1.0, pos[..., 1] * (2.0 / (h - 1)) - 1.0], dim=-1)


def identity_positions(size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32, device=device),
                            torch.arange(size, dtype=torch.float32, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=-1)  # H×W×2 as (x, y)


def sample_flow(flow: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Bilinear sample a 2×H×W flow at H×W×2 positions; returns H×W×2 displacements."""
    out = F.grid_sample(flow[None], _grid(pos[None]), mode="bilinear", padding_mode="border", align_corners=True)
    return out[0].permute(1, 2, 0)


def compose(flows: Sequence[torch.Tensor], size: int) -> list[torch.Tensor]:
    """Positions reached by following a chain of flows from every pixel.

    flows[k] takes frame k to frame k+1 (2×H×W). Returns [pos_1, ..., pos_K] where pos_k
    (H×W×2) is where pixel p of frame 0 lies in frame k.
    """
    if not flows:
        return []
    pos = identity_positions(size, flows[0].device)
    out = []
    for f in flows:
        pos = pos + sample_flow(f, pos)
        out.append(pos)
    return out


def warp(heatmaps: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Sample heatmaps T×J×H×W at positions T×H×W×2; outside the map is zero confidence."""
    return F.grid_sample(heatmaps, _grid(positions), mode="bilinear", padding_mode="zeros", align_corners=True)


def pool(warped: torch.Tensor, present: torch.Tensor, method: str, layer: TemporalPool | None,
         weights: torch.Tensor | None = None) -> torch.Tensor:
    """Combine (2n+1)×J×H×W warped maps into J×H×W.

    present marks which offsets exist (the window is truncated at video ends and cuts;
    absent slots are ignored). parametric uses the learned per-joint weights (`weights`,
    J×(2n+1), overrides the layer's own for a narrowed window); sum averages the present
    maps; max takes the per-pixel maximum.
    """
    mask = present.to(warped.dtype)
    if method == "sum":
        return (warped * mask[:, None, None, None]).sum(0) / mask.sum().clamp_min(1.0)
    if method == "max":
        neg = torch.finfo(warped.dtype).min
        return torch.where(mask[:, None, None, None] > 0, warped, torch.full_like(warped, neg)).amax(0)
    if method == "parametric":
        if layer is None and weights is None:
            raise ValueError("parametric pooling needs trained pooling weights in the model file")
        w = weights if weights is not None else layer.weight.detach()
        return weighted_pool(warped[None], w, present[None])[0]
    raise ValueError(f"unknown pooling {method!r} (choose from {', '.join(POOL_METHODS)})")
