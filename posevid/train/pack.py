"""Training samples packed for a machine that has neither the datasets nor PyAV: a GPU lent for
a few minutes, say, whose copy of the project may carry only some tens of megabytes.

`posevid train CONFIG --pack DIR` decodes every sample of the config once (the cached patch of
datasets.load_pixels, shrunk to `pack_size` pixels and WebP-encoded) and writes DIR/data.npz and
DIR/validation.npz; a config with `packed: DIR` then trains from those files instead of its
data sources. WebP because it is built into OpenCV and holds a 160-pixel patch in under 3 kB
(JPEG needs 4.6 kB at the same quality setting), which is what lets 20,000 samples travel.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..io.atomic import replacing

PACK_FORMAT = 1
#: WebP quality of packed patches: 75 leaves 2.5 grey levels of mean absolute error on LSP crops at
#: 192 pixels, far inside the colour jitter training adds (gains of ±25%).
QUALITY = 75
#: Short side of packed background crops: empty crops are cut from 0.3 to 1 of it and shown at
#: the network's input size (128 for q128 and h128, so more would only weigh; the paper preset's
#: 256 sees them enlarged, blurred like its packed person crops).
BACKGROUND_SIDE = 192


@dataclass
class Packed:
    """What TrainingData needs from a data source, decoded: patches, joints in patch pixels, the
    labelled flags, each sample's repeat count, and the crops with nobody in them."""

    patches: np.ndarray     # N×S×S×3 uint8 RGB
    joints: np.ndarray      # N×7×2 float32
    labelled: np.ndarray    # N×7 bool
    repeat: np.ndarray      # N int
    backgrounds: list[np.ndarray]


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    """`image` with its short side at most `side` pixels."""
    k = side / min(image.shape[:2])
    return cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA) if k < 1 else image


def _encode(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    blobs = [cv2.imencode(".webp", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, QUALITY])[1]
             for im in images]
    offsets = np.cumsum([0, *(len(b) for b in blobs)]).astype(np.int64)
    return (np.concatenate(blobs).astype(np.uint8) if blobs else np.zeros(0, np.uint8)), offsets


def _decode(data: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imdecode(data[a:b], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def write_pack(path: Path, packed: Packed, size: int, every_video: int = 1, is_video: np.ndarray | None = None
               ) -> int:
    """Write `packed` to `path` (.npz), patches shrunk to size×size; with `every_video` k > 1 only
    every k-th video sample is kept (neighbouring labelled frames are near copies). Returns the
    number of samples written."""
    keep = np.ones(len(packed.patches), bool)
    if every_video > 1 and is_video is not None:
        video = np.flatnonzero(is_video)
        keep[video] = False
        keep[video[::every_video]] = True  # the first of every k
    idx = np.flatnonzero(keep)
    scale = size / packed.patches.shape[1]
    patches = [cv2.resize(packed.patches[i], (size, size), interpolation=cv2.INTER_AREA) for i in idx]
    data, offsets = _encode(patches)
    bg_data, bg_offsets = _encode([_shrink(b, BACKGROUND_SIDE) for b in packed.backgrounds])
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, format=PACK_FORMAT, data=data, offsets=offsets, joints=packed.joints[idx] * scale,
                 labelled=packed.labelled[idx], repeat=packed.repeat[idx], bg_data=bg_data, bg_offsets=bg_offsets)
    return len(idx)


def read_pack(path: Path) -> Packed:
    """The samples of a file written by write_pack, decoded."""
    with np.load(path) as z:
        if int(z["format"]) != PACK_FORMAT:
            raise ValueError(f"{path}: pack format {int(z['format'])}, this posevid reads {PACK_FORMAT}")
        patches = _decode(z["data"], z["offsets"])
        return Packed(np.stack(patches) if patches else np.zeros((0, 1, 1, 3), np.uint8),
                      z["joints"].astype(np.float32), z["labelled"].astype(bool), z["repeat"].astype(np.int64),
                      _decode(z["bg_data"], z["bg_offsets"]))


def pack_config(cfg: dict[str, Any], out: Path, size: int, every_video: int = 1) -> dict[str, int]:
    """Pack a training config's data and validation sources into OUT/data.npz and
    OUT/validation.npz. Returns the number of samples in each."""
    from .pose import TrainingData  # noqa: PLC0415 - pose imports this module

    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for sources in ("data", "validation"):
        if not cfg.get(sources):
            continue
        td = TrainingData({**cfg, "packed": None}, 0, 0, sources=sources)
        counts[sources] = write_pack(out / f"{sources}.npz", td.as_packed(), size, every_video, td.is_video)
    return counts
