"""The box refiner: a second look at each person the detector finds, to frame them exactly.

Why: the pose network is trained on one framing (roi.body_box) and is sensitive to it. The
detector reads the whole frame on an 8-pixel grid, and its boxes are off in size by a median
×/÷1.17 on LSP *training* photos 401-900. Measured there with the shipped h128 network,
upper-body PCK@0.2 is 63.0 on the detector's boxes, 70.9 on the labelled boxes, and 68.7 /
64.7 on the labelled boxes jittered by a median ×/÷1.08 / ×/÷1.13. Reframing from the pose
network's own head and shoulders (tracking.REFINE_BELOW) gets to ×/÷1.13 (63.8): that network
learns joints on a well-framed crop, not framing on a badly framed one.

This network learns framing itself. It reads a window CONTEXT times the detector's box around
it, at REFINE_SIZE pixels, and regresses the crop-rule box of the person there: the centre's
offset and the log of the side, relative to the window. It is trained (posevid/train/refiner.py)
on labelled people seen through boxes moved and resized as the detector's errors are.

Not shipped, and not in the pipeline: no run frames real photos better than the detector
(docs/training.md section 4, "the box refiner"). Runs 1-3 cut their examples from cached
patches and learnt the patches' resampling; run 4 cut them from the frames themselves and
learnt its examples, but on the detector's boxes of photos it never saw its log side errors
follow the detector's own (correlation 0.90): both networks read the person's size from the
picture the same way, and what the crop rule's box adds on top (the labelled shoulders' width
and the neck's length, which the picture does not fix) no reading of the picture recovers.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from ..io.blobs import read_weights, write_weights
from .detector import _block, fold_blocks, to_tensor
from .roi import Roi

#: Side of the refiner's input in pixels; a window is area-averaged down to it (window_image).
REFINE_SIZE = 96
#: The window read around a box, in box sides: a box half the person's true size (the detector's
#: worst 5% on training photos) still has the person's whole box inside.
CONTEXT = 2.0
#: Channel widths of the five stride-2 stages (the last three with a second convolution).
WIDTHS = (16, 32, 64, 96, 128)
MAGIC = "posevid-refiner"


class RefinerNet(nn.Module):
    """Five stride-2 stages of 3×3 convolutions (96 -> 3 pixels), then two fully connected
    layers to (dx, dy, dlog): the true box centre minus the window centre, in window sides, and
    the log of the true side over the window side. Fully connected rather than pooled, since
    where the head and shoulders are in the window is the answer."""

    def __init__(self, batchnorm: bool = False, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        self.batchnorm = batchnorm
        self.widths = tuple(int(c) for c in widths)
        b = lambda *a, **k: _block(*a, batchnorm=batchnorm, **k)  # noqa: E731
        stages: list[nn.Module] = []
        cin = 3
        for k, c in enumerate(self.widths):
            stages.append(b(cin, c, stride=2))
            if k >= 2:  # a second convolution where the maps are small enough to afford it
                stages.append(b(c, c))
            cin = c
        self.features = nn.Sequential(*stages)
        cells = (REFINE_SIZE >> len(self.widths)) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * cells, 256), nn.ReLU(inplace=True),
                                  nn.Linear(256, 3))
        with torch.no_grad():  # start at "the box is right": the window's own box
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.copy_(torch.tensor([0.0, 0.0, -math.log(CONTEXT)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×3×REFINE_SIZE² RGB in [0, 1] -> B×3 (dx, dy, dlog)."""
        return self.head(self.features((x - 0.5) * 2.0))


def window(box: Roi) -> Roi:
    """The square the refiner reads around a box."""
    cx, cy = box.centre
    return Roi.centred(cx, cy, box.side * CONTEXT)


def window_image(image: np.ndarray, win: Roi, turn: np.ndarray | None = None) -> np.ndarray:
    """The window's pixels at REFINE_SIZE² (black outside the image): cut at its own resolution
    (a shift, bilinear), then area-averaged down, so that a window is as sharp as its source
    allows whatever its size; one that covers fewer pixels than REFINE_SIZE is enlarged.
    `turn` (2×3, training only) is applied to the image first, in the same single resampling."""
    n = int(min(max(math.ceil(win.side), REFINE_SIZE), 4 * REFINE_SIZE))
    m = win.affine(n)
    if turn is not None:
        m = m @ np.vstack([turn, [0.0, 0.0, 1.0]])
    cut = cv2.warpAffine(image, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cut if n == REFINE_SIZE else cv2.resize(cut, (REFINE_SIZE, REFINE_SIZE), interpolation=cv2.INTER_AREA)


def decode(out: np.ndarray, win: Roi) -> Roi:
    """A box in frame pixels from one output row (dx, dy, dlog) and the window it was read in."""
    cx, cy = win.centre
    side = win.side * math.exp(float(np.clip(out[2], -3.0, 1.0)))
    return Roi.centred(cx + float(out[0]) * win.side, cy + float(out[1]) * win.side, side)


def target(truth: Roi, win: Roi) -> np.ndarray:
    """The output row that names `truth` read in `win` (decode's inverse)."""
    tx, ty = truth.centre
    cx, cy = win.centre
    return np.array([(tx - cx) / win.side, (ty - cy) / win.side, math.log(truth.side / win.side)], np.float32)


def folded(net: RefinerNet) -> RefinerNet:
    """The same function without BatchNorm, for export."""
    return fold_blocks(net, RefinerNet(batchnorm=False, widths=net.widths))


def save(path: str | Path, net: RefinerNet, meta: dict[str, Any]) -> None:
    """Write refiner weights atomically (BatchNorm folded), with their training facts."""
    if net.batchnorm:
        net = folded(net.cpu())
    write_weights(path, MAGIC, net, {**meta, "size": REFINE_SIZE, "context": CONTEXT, "widths": list(net.widths)})


def load(path: str | Path) -> tuple[RefinerNet, dict[str, Any]]:
    """Load refiner weights; every failure is a ModelError naming the file."""
    path = Path(path)
    net, meta = read_weights(path, MAGIC, "box refiner",
                             lambda meta: RefinerNet(widths=tuple(meta.get("widths", WIDTHS))))
    if meta.get("size") != REFINE_SIZE or meta.get("context") != CONTEXT:
        raise ModelError(f"{path}: box refiner trained for another input")
    return net, meta


@torch.inference_mode()
def run(net: nn.Module, images: torch.Tensor, flip: bool = True) -> np.ndarray:
    """The network's rows for a batch of windows; with `flip` also for their mirror images,
    mirrored back (dx negated) and averaged."""
    out = net(images).float()
    if flip:
        mirrored = net(images.flip(3)).float()
        mirrored[:, 0] = -mirrored[:, 0]
        out = (out + mirrored) / 2
    return out.numpy()


class BoxRefiner:
    """Frames boxes again with a refiner run's weights, on the CPU (about a millisecond a box):
    `refiner(rgb, boxes)` returns the refined boxes in the same order. For measuring runs against
    the detector's boxes; the tracker does not use it."""

    def __init__(self, path: str | Path, flip: bool = True):
        self.net, self.meta = load(path)
        self.flip = flip

    def __call__(self, rgb: np.ndarray, boxes: list[Roi]) -> list[Roi]:
        if not boxes:
            return []
        windows = [window(b) for b in boxes]
        out = run(self.net, to_tensor([window_image(rgb, w) for w in windows]), self.flip)
        return [decode(o, w) for o, w in zip(out, windows, strict=True)]
