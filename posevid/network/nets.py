"""SpatialNet, its spatial fusion layers and the parametric temporal pooling layer.

Architecture as in the paper (section 2) and the authors' released FLIC fusion model:
only two 2×2 max-pools, all strides 1 with 'same' padding, so every map after the
second pool is 64×64. conv3 and conv7 are concatenated as input to five fusion
convolutions with large kernels. We leave the ReLU off the two heatmap outputs
(conv8 and fusion5): a ReLU there lets a unit that goes negative early stop learning,
and the heatmaps are only ever read through argmax and a threshold.
"""
from __future__ import annotations

import torch
from torch import nn

from ..joints import NUM_JOINTS
from .presets import Preset


def _conv(cin: int, cout: int, k: int, relu: bool = True, batchnorm: bool = False) -> nn.Sequential:
    """Convolution ('same' padding), then BatchNorm while training with it, then ReLU.

    The convolution is always element 0, so the keys of its weights are the same with and
    without BatchNorm, and a folded network loads into the plain architecture.
    """
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2)]
    if batchnorm and relu:
        layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SpatialNetFusion(nn.Module):
    """SpatialNet (conv1–conv8) with the spatial fusion branch.

    forward() returns (spatial heatmaps from conv8, fusion heatmaps from fusion5),
    both N×7×64×64 for N×3×256×256 input in [0, 1].
    """

    def __init__(self, preset: Preset, num_joints: int = NUM_JOINTS, batchnorm: bool = False):
        """`batchnorm=True` adds BatchNorm after every hidden convolution for training (the
        narrow networks hardly learn without it); fold_batchnorm() removes it for export, so
        the shipped network keeps the paper's layers and speed."""
        super().__init__()
        c1, c2, c3, c4, c5, c6, c7 = preset.spatial
        f1, f2, f3, f4 = preset.fusion
        self.preset = preset
        self.batchnorm = batchnorm
        self.num_outputs = num_joints  # more than the joints while trained with face points

        def conv(cin: int, cout: int, k: int, relu: bool = True) -> nn.Sequential:
            return _conv(cin, cout, k, relu, batchnorm)

        self.conv1 = conv(3, c1, 5)
        self.conv2 = conv(c1, c2, 5)
        self.conv3 = conv(c2, c3, 5)
        self.conv4 = conv(c3, c4, 9)
        self.conv5 = conv(c4, c5, 9)
        self.conv6 = conv(c5, c6, 1)
        self.conv7 = conv(c6, c7, 1)
        self.conv8 = conv(c7, num_joints, 1, relu=False)
        self.fusion = nn.Sequential(
            conv(c3 + c7, f1, 7),
            conv(f1, f2, 13),
            conv(f2, f3, 13),
            conv(f3, f4, 1),
            conv(f4, num_joints, 1, relu=False),
        )
        self.pool = nn.MaxPool2d(2, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        # Heatmap outputs start small so the initial loss is that of an all-zero map.
        for last in (self.conv8[0], self.fusion[-1][0]):
            nn.init.normal_(last.weight, std=1e-3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - 0.5) * 2.0
        x = self.pool(self.conv1(x))
        x = self.pool(self.conv2(x))
        f3 = self.conv3(x)
        x = self.conv7(self.conv6(self.conv5(self.conv4(f3))))
        spatial = self.conv8(x)
        fused = self.fusion(torch.cat([f3, x], dim=1))
        return spatial, fused


def fold_batchnorm(net: SpatialNetFusion) -> SpatialNetFusion:
    """The same function without BatchNorm: each BN's running statistics and affine parameters
    folded into the convolution before it (w' = w·γ/σ, b' = (b − μ)·γ/σ + β). The result has
    the joints' heatmaps only: those of face points taught beside them in training (train/faces.py)
    are left out, so the shipped network keeps its size and speed."""
    plain = SpatialNetFusion(net.preset, batchnorm=False)
    outputs = {"conv8", f"fusion.{len(net.fusion) - 1}"}
    state = {}
    for name, module in net.named_modules():
        if not (isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], nn.Conv2d)):
            continue
        conv = module[0]
        w, b = conv.weight.detach().clone(), conv.bias.detach().clone()
        if len(module) > 1 and isinstance(module[1], nn.BatchNorm2d):
            bn = module[1]
            k = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            w = w * k[:, None, None, None]
            b = (b - bn.running_mean) * k + bn.bias.detach()
        if name in outputs:
            w, b = w[:NUM_JOINTS], b[:NUM_JOINTS]
        state[f"{name}.0.weight"], state[f"{name}.0.bias"] = w, b
    plain.load_state_dict(state)
    return plain.eval()


@torch.no_grad()
def calibrate_batchnorm(net: nn.Module, x: torch.Tensor) -> None:
    """Set every BatchNorm of a network that starts from folded (plain) weights so that it passes
    on what it receives: its affine parameters and running statistics become the mean and
    spread of its input over the batch `x`. Without this, identity-initialised BatchNorm in
    training mode normalises each channel to unit spread and the trained function is lost at
    the first step (a continued run started from 4 times its final training loss)."""
    layers = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(module: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...]) -> None:
        a = inputs[0].float()
        stats[module] = (a.mean((0, 2, 3)), a.var((0, 2, 3), unbiased=False))

    was = net.training
    net.eval()  # identity BatchNorm (mean 0, var 1, weight 1, bias 0) while recording
    for m in layers:
        m.reset_parameters()
    hooks = [m.register_forward_pre_hook(record) for m in layers]
    net(x)
    for h in hooks:
        h.remove()
    for m in layers:
        mean, var = stats[m]
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.bias.copy_(mean)
        m.weight.copy_(torch.sqrt(var + m.eps))
    net.train(was)


class TemporalPool(nn.Module):
    """The paper's parametric pooling layer: a 1×1 convolution per joint over 2n+1 warped maps.

    `weights[j, i]` weighs the map of offset i−n for joint j (t×k weights in all).
    Frames missing from a truncated window (video start or end, shot cut) are left out
    and the remaining weights rescaled to the full sum, so that confidence keeps its scale.
    """

    def __init__(self, window: int, num_joints: int = NUM_JOINTS):
        super().__init__()
        self.window = window
        init = torch.full((num_joints, 2 * window + 1), 1.0 / (2 * window + 1))
        self.weight = nn.Parameter(init)

    def forward(self, warped: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """warped: B×(2n+1)×J×H×W; present: B×(2n+1) of 0/1 (all present when None)."""
        return weighted_pool(warped, self.weight, present)

    def narrowed(self, window: int) -> torch.Tensor:
        """The central 2·window+1 weights, rescaled to the same sum, for a smaller window."""
        if window > self.window:
            raise ValueError(f"window {window} is larger than the trained pooling window {self.window}")
        c = self.window
        w = self.weight.detach()[:, c - window : c + window + 1]
        return w * (self.weight.detach().sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1e-6))


def weighted_pool(warped: torch.Tensor, weight: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
    """Per-joint weighted sum over the window: B×T×J×H×W maps, J×T weights -> B×J×H×W.

    Absent slots (present = 0) are dropped and the remaining weights rescaled to the
    full per-joint sum, so a truncated window keeps the confidence scale.
    """
    w = weight.t().unsqueeze(0)  # 1×T×J
    if present is not None:
        eff = w * present.to(w.dtype).unsqueeze(-1)
        w = eff * (w.sum(1, keepdim=True) / eff.sum(1, keepdim=True).clamp_min(1e-6))
    return (warped * w[..., None, None]).sum(dim=1)


class CoordinateNet(nn.Module):
    """The paper's baseline (section 5.1, after Pfister et al. 2014): an AlexNet-like network of
    similar depth that regresses the joints' (x, y) directly instead of heatmaps.

    Five convolutions (11×11 stride 4, 5×5, three 3×3, with max-pools) and three fully
    connected layers; channel counts scale with the preset like SpatialNet's. Output: N×J×2
    positions as fractions of the input size.
    """

    def __init__(self, preset: Preset, num_joints: int = NUM_JOINTS):
        super().__init__()
        width = preset.spatial[0] / 128.0
        c = [max(8, int(round(v * width))) for v in (96, 256, 384, 384, 256)]
        fc = max(64, int(round(4096 * width)))
        self.preset = preset
        self.num_joints = num_joints
        self.features = nn.Sequential(
            nn.Conv2d(3, c[0], 11, stride=4, padding=5), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c[0], c[1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.AdaptiveAvgPool2d(6),
        )
        self.regressor = nn.Sequential(
            nn.Flatten(), nn.Linear(c[4] * 36, fc), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(fc, num_joints * 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.regressor(self.features((x - 0.5) * 2.0))
        return out.view(-1, self.num_joints, 2) + 0.5
