"""Start a wider network from a trained narrower one (Net2WiderNet, Chen et al., ICLR 2016).

Training a network twice as wide from scratch costs about four times the CPU hours of the
narrow one. Instead, every hidden channel of the trained narrow SpatialNet Fusion is copied
once: each copy receives the same inputs, and every layer after it reads each of the two
copies with half the old weight, so the wide network computes exactly the narrow one's
function. A little noise on the copies' incoming weights lets them learn different things,
and training goes on from the narrow network's accuracy rather than from zero.

Any wider preset of the same input size works (`widens`): a channel of the narrow network may
have one copy or several, and every layer after it shares the channel's weight among them. The
person detector widens by the same rule (`widen_detector`).
"""
from __future__ import annotations

import torch

from ..errors import PosevidError
from ..network.nets import SpatialNetFusion
from ..network.presets import Preset
from ..person.detector import DetectorNet


def widens(narrow: Preset, wide: Preset) -> bool:
    """Whether `wide` has every channel count of `narrow` or more, at least one more, with the
    same input and heatmap size: it can start from `narrow`'s function."""
    pairs = list(zip(narrow.spatial + narrow.fusion, wide.spatial + wide.fusion, strict=True))
    return (narrow.input_size == wide.input_size and narrow.heatmap_size == wide.heatmap_size
            and all(b >= a for a, b in pairs) and any(b > a for a, b in pairs))


def same_layers(a: Preset, b: Preset) -> bool:
    """Whether two presets have the same channel counts (so the same weight tensors), whatever
    their input size: the network is fully convolutional, so h128's weights start h160."""
    return a.spatial == b.spatial and a.fusion == b.fusion


def _copies(narrow: int, wide: int) -> list[int]:
    """For each of `wide` channels, the narrow channel it copies: the first `narrow` are the
    originals, the rest copy them in turn."""
    return [j % narrow for j in range(wide)]


def _layers(net: SpatialNetFusion) -> list[torch.nn.Conv2d]:
    return [net.conv1[0], net.conv2[0], net.conv3[0], net.conv4[0], net.conv5[0], net.conv6[0], net.conv7[0],
            net.conv8[0], *(m[0] for m in net.fusion)]


def _inputs(narrow: SpatialNetFusion, wide: SpatialNetFusion, k: int) -> list[int]:
    """For the narrow network's layer k, the narrow input channel each wide input channel copies."""
    a, b = narrow.preset.spatial, wide.preset.spatial
    if k == 0:
        return [0, 1, 2]
    if k == 8:  # fusion1 reads conv3 and conv7, each widened on its own
        return _copies(a[2], b[2]) + [a[2] + j for j in _copies(a[6], b[6])]
    return _copies(_layers(narrow)[k].in_channels, _layers(wide)[k].in_channels)


def _copy_conv(a: torch.nn.Conv2d, b: torch.nn.Conv2d, cols: list[int], rows: list[int], noise: float,
               gen: torch.Generator) -> None:
    """Write into `b` the narrow convolution `a`, output channel j of `b` copying `rows[j]` of
    `a` and input channel i reading `cols[i]`: each narrow input's weight is shared among its
    copies, so the sum is unchanged; the copies' incoming weights get a little noise."""
    count = torch.bincount(torch.tensor(cols), minlength=a.in_channels).float()
    w = a.weight[rows][:, cols] / count[cols][None, :, None, None]
    copy = torch.tensor([j >= a.out_channels for j in range(len(rows))])
    w = w + torch.randn(w.shape, generator=gen) * noise * a.weight.std() * copy[:, None, None, None]
    b.weight.copy_(w)
    b.bias.copy_(a.bias[rows])


@torch.no_grad()
def widen(narrow: SpatialNetFusion, wide: SpatialNetFusion, noise: float = 0.01, seed: int = 0) -> None:
    """Write into `wide` (its plain convolutions; BatchNorm layers, if any, stay as created:
    identity at the start) the narrow network's weights, every hidden channel copied as often as
    the wider preset needs."""
    if not widens(narrow.preset, wide.preset):
        raise PosevidError(f"cannot widen {narrow.preset.name} into {wide.preset.name}: "
                           "every channel count must be the same or larger, at the same input size")
    gen = torch.Generator().manual_seed(seed)
    small, big = _layers(narrow), _layers(wide)
    outputs = {7, 12}  # conv8 and fusion5: the 7 heatmaps, not widened
    for k, (a, b) in enumerate(zip(small, big, strict=True)):
        rows = list(range(a.out_channels)) if k in outputs else _copies(a.out_channels, b.out_channels)
        _copy_conv(a, b, _inputs(narrow, wide, k), rows, noise, gen)


@torch.no_grad()
def widen_detector(narrow: DetectorNet, wide: DetectorNet, noise: float = 0.01, seed: int = 0) -> None:
    """Write into `wide` the narrow detector's weights (BatchNorm included, with its running
    statistics), every hidden channel copied as often as the wider widths need: the wide network
    computes the narrow one's function, up to the noise on the copies' incoming weights."""
    if len(narrow.widths) != len(wide.widths) or any(w < n for n, w in zip(narrow.widths, wide.widths, strict=True)):
        raise PosevidError(f"cannot widen a detector of widths {narrow.widths} into {wide.widths}")
    gen = torch.Generator().manual_seed(seed)
    g = [_copies(n, w) for n, w in zip(narrow.widths, wide.widths, strict=True)]
    rgb, heads = [0, 1, 2], [0, 1, 2, 3]
    # (block, input channels' sources, output channels' sources); up + skip share group 4's copies
    plan = [("stem", rgb, g[0]), ("s4.0", g[0], g[1]), ("s4.1", g[1], g[1]), ("s8.0", g[1], g[2]),
            ("s8.1", g[2], g[2]), ("s16.0", g[2], g[3]), ("s16.1", g[3], g[3]), ("s16.2", g[3], g[3]),
            ("s16.3", g[3], g[3]), ("skip", g[2], g[3]), ("merge", g[3], g[3]), ("head", g[3], heads)]
    small, big = dict(narrow.named_modules()), dict(wide.named_modules())
    for name, cols, rows in plan:
        a, b = small[name], big[name]
        _copy_conv(a[0], b[0], cols, rows, noise, gen)
        if len(a) > 1 and isinstance(a[1], torch.nn.BatchNorm2d) and isinstance(b[1], torch.nn.BatchNorm2d):
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(b[1], key).copy_(getattr(a[1], key)[rows])
            b[1].num_batches_tracked.copy_(a[1].num_batches_tracked)
