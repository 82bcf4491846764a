"""Distillation: heatmap targets that mix the labels with what trained networks read in the crop.

Why: on held-out photos a prediction ensemble of trained h128 networks (their fusion heatmaps
averaged) scored above each of them, but runs at inference would cost the default job its 15 fps
on a 2-core CPU without bf16 matrix units. A network taught towards the ensemble's heatmaps can
keep part of that gain at one network's cost. The ensemble's maps also say what a label cannot:
how sure the pose is, and which second place a joint's other side takes.

`train.distill.models` names the weight files; each reads the crop plain and mirrored (as the
pipeline's flip averaging does), the maps are averaged, and a labelled joint's target becomes
(1 - weight) × its Gaussian + weight × the ensemble's map. Joints without a label, or pushed out
of the crop, keep weight 0, as without distillation.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..joints import FLIP_PERMUTATION, NUM_JOINTS
from ..network import weights
from ..network.runtime import flip_mean, nnpack_where_fp32


class EnsembleTargets:
    """The trained networks whose averaged heatmaps the targets are mixed with."""

    def __init__(self, models: Sequence[str | Path], weight: float, device: torch.device,
                 dtype: torch.dtype = torch.float32):
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"train.distill.weight must be in (0, 1], not {weight}")
        self.nets = []
        for path in models:
            net, _, _ = weights.load(path, device)
            net.requires_grad_(False)
            nnpack_where_fp32(net, device, dtype)  # fp32 on the CPU: the large kernels through NNPACK
            self.nets.append(net.to(dtype).to(memory_format=torch.channels_last))
        if not self.nets:
            raise ValueError("train.distill.models is empty")
        self.weight, self.dtype = weight, dtype
        self.swap = torch.tensor(FLIP_PERMUTATION, device=device)

    @torch.inference_mode()
    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """The members' fusion heatmaps of crops `x` (B×3×S×S in [0, 1]), flip-averaged and averaged
        over members: B×J×H×W float32."""
        n = len(x)
        both = torch.cat([x, x.flip(3)]).to(self.dtype).contiguous(memory_format=torch.channels_last)
        total = None
        for net in self.nets:
            out = flip_mean(net(both)[1].float(), n, self.swap)
            total = out if total is None else total + out
        return total / len(self.nets)

    def mixed(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`target` with its joint channels moved `weight` of the way to the ensemble's maps (any
        further channels, such as face points, as they are)."""
        teacher = self.heatmaps(x)
        out = target.clone()
        out[:, :NUM_JOINTS] = (1 - self.weight) * target[:, :NUM_JOINTS] + self.weight * teacher
        return out
