"""The person detector: a small fully convolutional network that finds every upper body in a
whole frame and gives, per person, the crop the pose network is trained on (roi.body_box).

Why a network: the hand-made finder before it (two Haar face cascades, then the pose network
scanned over the frame) needed a frontal face or a large person, saw one person at a time and
missed people small in a wide frame (0.0 PCK on ../shared/eval/lsp80_wide). This net is
trained (posevid/train/detector.py) on labelled people composed into wide frames at every size
and place, on real video frames, and on frames with nobody in them.

It reads the frame shrunk so that its long side is DET_SIZE pixels and predicts, on a grid
of STRIDE pixels, "objects as points" (Zhou et al. 2019): a score map that peaks at each
person's box centre, the centre's offset within its cell, and the box side (log). A box is
exactly roi.body_box of the person's joints: 4.5 body scales, 0.1 below the shoulders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn.functional import max_pool2d

from ..errors import ModelError
from ..io.blobs import read_weights, write_weights
from ..network.runtime import detector_dtype
from .roi import Roi

#: Long side of the detector's input in pixels: a person whose box is 40 px on a 1280×720 frame
#: (body scale 9 px, LSP photos at native size) is still 12 px wide there.
DET_SIZE = 384
#: Frames whose long side is at least FINE_SIZE are also read at that size (twice as fine), for
#: people too small for DET_SIZE: only its detections with a box under FINE_MAX_SIDE pixels at
#: DET_SIZE are kept, so that close-ups, which the fine pass cuts into parts, are never judged
#: there. Held-out photos at native size in 1280×720: recall/precision 35.4/36.3 -> 51.2/42.2;
#: held-out video and composed frames enlarged to 1280 px: 94.0/96.3 the same, 78.3/77.9 ->
#: 80.6/76.1 (benchmarks/detector.py). A 640×360 frame is not read twice.
FINE_SIZE = 768
FINE_MAX_SIDE = 64
#: Output grid step in input pixels; the input is padded to a multiple of PAD.
STRIDE = 8
PAD = 16
#: Channel widths: stem (1/2), 1/4, 1/8, 1/16, of the first detector (stages 1-5). A weight
#: file records its own widths; a wider detector starts from a narrower one (train/widen.py).
WIDTHS = (16, 24, 48, 64)
#: A peak of the score map at least this high is a person: the best balance of recall and
#: precision on held-out frames among 0.15-0.4 (models/posevid-detector.md).
SCORE_THRESHOLD = 0.3
#: A detection whose box overlaps a stronger one by more than this (IoU), or whose centre is
#: within SAME_CENTRE of the larger box's side from its centre, is the same person.
NMS_IOU = 0.4
SAME_CENTRE = 0.2
MAGIC = "posevid-detector"
DETECTOR_FILE = "posevid-detector.pt"


def shipped_detector() -> Path:
    """The detector weights shipped inside the installed package (models/ in a checkout)."""
    return Path(str(resources.files("posevid.models").joinpath(DETECTOR_FILE)))


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1, batchnorm: bool = False) -> nn.Sequential:
    """3×3 convolution, BatchNorm while training, ReLU; the convolution is element 0 (see fold)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DetectorNet(nn.Module):
    """Stride-16 encoder with dilated convolutions (a receptive field of about 280 px, enough for a
    close-up whose box is wider than the frame), one stride-8 skip, and a 4-channel head:
    centre score (logit), centre offset x, y (cells), log of the box side (in cells)."""

    def __init__(self, batchnorm: bool = False, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        self.batchnorm = batchnorm
        self.widths = tuple(int(c) for c in widths)
        c1, c2, c3, c4 = self.widths
        b = lambda *a, **k: _block(*a, batchnorm=batchnorm, **k)  # noqa: E731
        self.stem = b(3, c1, stride=2)
        self.s4 = nn.Sequential(b(c1, c2, stride=2), b(c2, c2))
        self.s8 = nn.Sequential(b(c2, c3, stride=2), b(c3, c3))
        self.s16 = nn.Sequential(b(c3, c4, stride=2), b(c4, c4), b(c4, c4, dilation=2), b(c4, c4, dilation=4))
        self.skip = nn.Sequential(nn.Conv2d(c3, c4, 1))
        self.merge = b(c4, c4)
        self.head = nn.Sequential(nn.Conv2d(c4, 4, 1))
        with torch.no_grad():  # start with a low score everywhere (focal-loss practice)
            self.head[0].bias.copy_(torch.tensor([-2.2, 0.0, 0.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×3×H×W RGB in [0, 1], H and W multiples of PAD -> B×4×H/8×W/8."""
        x = (x - 0.5) * 2.0
        f8 = self.s8(self.s4(self.stem(x)))
        f16 = self.s16(f8)
        up = nn.functional.interpolate(f16, size=f8.shape[-2:], mode="nearest")
        return self.head(self.merge(up + self.skip(f8)))


def reading_side(roi: Roi, frame_shape: tuple[int, ...]) -> float:
    """A box's side in pixels at the detector's usual reading (the frame's long side at
    DET_SIZE): how coarse the 8-pixel grid is for that person."""
    return roi.side * DET_SIZE / max(frame_shape[:2])


def widths_of(state: dict[str, torch.Tensor]) -> tuple[int, ...]:
    """The channel widths of a DetectorNet state dict (a checkpoint's, to start a run from)."""
    return tuple(int(state[k].shape[0]) for k in ("stem.0.weight", "s4.0.0.weight", "s8.0.0.weight", "s16.0.0.weight"))


def fold_blocks(net: nn.Module, plain: nn.Module) -> nn.Module:
    """`plain` (the same layers without BatchNorm) given `net`'s function, for export: each block's
    convolution (element 0 of an nn.Sequential, as _block makes them) with the BatchNorm after it
    folded in by torch's fuse_conv_bn_eval; every other weight (a linear head) copied."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval  # noqa: PLC0415

    net = net.eval()
    state = {}
    for name, module in net.named_modules():
        if isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], nn.Conv2d):
            conv = module[0]
            if len(module) > 1 and isinstance(module[1], nn.BatchNorm2d):
                conv = fuse_conv_bn_eval(conv, module[1])
            state[f"{name}.0.weight"], state[f"{name}.0.bias"] = conv.weight.detach(), conv.bias.detach()
    own = net.state_dict()
    state.update({k: own[k] for k in plain.state_dict() if k not in state})
    plain.load_state_dict(state)
    return plain.eval()


def folded(net: DetectorNet) -> DetectorNet:
    """The same function without BatchNorm, for export."""
    return fold_blocks(net, DetectorNet(batchnorm=False, widths=net.widths))


@dataclass(frozen=True)
class Detection:
    """One person found in a frame: the crop-rule box (frame pixels) and the detector's score."""

    roi: Roi
    score: float


def prepare(rgb: np.ndarray, size: int = DET_SIZE) -> tuple[np.ndarray, float]:
    """The frame shrunk (or enlarged) to a long side of `size` and zero-padded to a multiple of
    PAD at the right and bottom; returns (H×W×3 uint8, scale from frame to input pixels)."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (nw, nh), interpolation=interp)
    ph, pw = -nh % PAD, -nw % PAD
    if ph or pw:
        small = cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
    return small, scale


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """Same-sized H×W×3 uint8 images -> B×3×H×W float in [0, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)


def decode(out: torch.Tensor, scale: float = 1.0, threshold: float = SCORE_THRESHOLD,
           limit: int = 20) -> list[Detection]:
    """Detections from one output map (4×h×w): local maxima of the score over threshold, each
    with its box, strongest first, duplicates of one person dropped (same_person); boxes in
    frame pixels (÷ scale)."""
    score = torch.sigmoid(out[0].float())
    peaks = (score == max_pool2d(score[None, None], 3, 1, 1)[0, 0]) & (score >= threshold)
    ys, xs = torch.nonzero(peaks, as_tuple=True)
    candidates = []
    order = torch.argsort(score[ys, xs], descending=True)
    for k in order[: 4 * limit].tolist():
        y, x = int(ys[k]), int(xs[k])
        cx = (x + 0.5 + float(out[1, y, x])) * STRIDE / scale
        cy = (y + 0.5 + float(out[2, y, x])) * STRIDE / scale
        side = math.exp(float(out[3, y, x].clamp(-2.0, 8.0))) * STRIDE / scale
        candidates.append(Detection(Roi.centred(cx, cy, side), float(score[y, x])))
    return distinct(candidates, limit)


def distinct(detections: list[Detection], limit: int | None = None) -> list[Detection]:
    """Detections strongest first, each dropped that is the same person (same_person) as a
    stronger one kept; at most `limit`."""
    found: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(same_person(d.roi, f.roi) for f in found):
            found.append(d)
            if limit is not None and len(found) >= limit:
                break
    return found


def same_person(a: Roi, b: Roi) -> bool:
    """Whether two detections are one person: boxes that overlap by more than NMS_IOU, or whose
    centres are within SAME_CENTRE of the larger side (a close-up's box and a duplicate twice its
    size around the same chest; a face read as a small person inside a close-up)."""
    d = math.dist(a.centre, b.centre)
    return iou(a, b) > NMS_IOU or d < SAME_CENTRE * max(a.side, b.side)


def iou(a: Roi, b: Roi) -> float:
    """Overlap of two square boxes: intersection over union."""
    w = min(a.x + a.side, b.x + b.side) - max(a.x, b.x)
    h = min(a.y + a.side, b.y + b.side) - max(a.y, b.y)
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a.side**2 + b.side**2 - inter + 1e-9)


def save(path: str | Path, net: DetectorNet, meta: dict[str, Any]) -> None:
    """Write detector weights atomically (BatchNorm folded), with their training facts."""
    if net.batchnorm:
        net = folded(net.cpu())
    write_weights(path, MAGIC, net, {**meta, "det_size": DET_SIZE, "stride": STRIDE, "widths": list(net.widths)})


def load(path: str | Path | None = None) -> tuple[DetectorNet, dict[str, Any]]:
    """Load detector weights (the shipped ones by default); every failure is a ModelError naming the file."""
    path = Path(path) if path else shipped_detector()
    net, meta = read_weights(path, MAGIC, "person detector",
                             lambda meta: DetectorNet(widths=tuple(meta.get("widths", WIDTHS))))
    if meta.get("det_size") != DET_SIZE:
        raise ModelError(f"{path}: detector trained for another input size")
    return net, meta


class PersonDetector:
    """Finds people in whole frames with the shipped (or a given) detector, on the CPU: it is
    small enough (a few ms a frame) that the GPU's transfer would cost more than it saves."""

    def __init__(self, path: str | Path | None = None, threshold: float = SCORE_THRESHOLD, flip: bool = True,
                 precision: str = "auto"):
        """`flip`: also run the mirrored frame and average the outputs, mirrored back (the x offset
        negated): on held-out frames precision 60.3 -> 67.5 on photos, 92.7 -> 95.1 on video,
        recall the same or higher, for a second pass of a network that costs little.
        `precision` (the pose network's setting, runtime.detector_dtype): `auto` computes in
        bfloat16, channels-last, on a CPU that has it in hardware: on 2 AMD EPYC cores (AVX512-BF16)
        a 1280×720 frame's two readings with flip took 44 instead of 98 ms, scores within 0.004."""
        self.net, self.meta = load(path)
        self.dtype = detector_dtype(precision)
        self.net = self.net.to(self.dtype).to(memory_format=torch.channels_last)
        self.threshold = threshold
        self.flip = flip

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray, threshold: float | None = None) -> list[Detection]:
        """Everyone found in an RGB frame, strongest first (score at least `threshold`, by default the detector's)."""
        threshold = self.threshold if threshold is None else threshold
        found = self.read(rgb, DET_SIZE, threshold)
        long_side = max(rgb.shape[:2])
        if long_side >= FINE_SIZE:
            fine = self.read(rgb, FINE_SIZE, threshold)
            small = [d for d in fine if reading_side(d.roi, rgb.shape) < FINE_MAX_SIDE]
            found = distinct(found + small)
        return found

    @torch.inference_mode()
    def read(self, rgb: np.ndarray, size: int, threshold: float) -> list[Detection]:
        """One reading of the frame at a long side of `size` (with its mirror image when flipping)."""
        small, scale = prepare(rgb, size)
        x = to_tensor([small]).to(self.dtype).contiguous(memory_format=torch.channels_last)
        if self.flip:
            both = self.net(torch.cat([x, x.flip(3)]))
            mirrored = both[1].flip(2)
            mirrored[1] = -mirrored[1]  # a centre's x offset within its cell changes sign in the mirror
            out = (both[0].float() + mirrored.float()) / 2
        else:
            out = self.net(x)[0].float()
        return decode(out, scale, threshold)
