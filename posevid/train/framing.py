"""The person detector's own framing of each training sample, for `augment.detector`.

Why: at inference the pose network reads the box the detector gives, and on photos the detector
frames people differently from the crop rule of their labels (a median ×/÷1.17 in side on LSP
training photos 401-900). The shipped h128 network, trained on the labelled boxes with random
jitter, scores 70.9 upper-body PCK@0.2 there on the labelled boxes and 63.0 on the detector's.
The box refiner (person/refine.py) showed that no second reading of the picture recovers the
labelled box (its errors follow the detector's with correlation 0.90): what the crop rule adds,
the labelled shoulders' width against the neck's length, the picture does not fix. So the pose
network is shown the detector's boxes themselves: with probability `augment.detector` a crop is
framed by the detector's box of that sample (with a little jitter) instead of the crop rule's
box with random jitter, and learns to find the joints in the framing it will get.

A sample's framing is the detection that overlaps its crop-rule box most (IoU at least
tracking.MATCH_IOU, the overlap at which the tracker joins a detection to a person), as an
offset from that box in its own sides: (dx, dy) of the centre and the log of the side ratio;
NaN where the detector finds nobody there (those crops keep the random jitter). Finding them
costs a detector pass over every photo (minutes), so they are kept in the run's folder, keyed
by sample and by the detector's weights.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from ..io.atomic import replacing
from ..person.detector import Detection, PersonDetector, iou, shipped_detector
from ..person.roi import Roi, body_box
from ..person.tracking import MATCH_IOU, PHOTO_THRESHOLD
from .datasets import Sample, decoded

#: The file in a run's folder that keeps its samples' framings.
FRAMING_FILE = "framing.npz"


def best_match(detections: list[Detection], truth: Roi, least: float) -> Roi | None:
    """The detection overlapping `truth` most, if by IoU `least` or more: the detector's box of
    that person (what the tracker would follow), else None."""
    overlap, box = max(((iou(d.roi, truth), d.roi) for d in detections), key=lambda f: f[0], default=(0.0, None))
    return box if box is not None and overlap >= least else None


def offset(box: Roi, truth: Roi) -> tuple[float, float, float]:
    """`box` relative to `truth`: its centre's offset in truth sides, and log(side / truth side)."""
    (bx, by), (tx, ty) = box.centre, truth.centre
    return (bx - tx) / truth.side, (by - ty) / truth.side, math.log(box.side / truth.side)


def _key(sample: Sample) -> str:
    return f"{sample.source}#{-1 if sample.frame is None else sample.frame}"


def _weights_id(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


def framings(samples: list[Sample], cache: Path | None = None, detector: Path | None = None) -> np.ndarray:
    """N×3 float32: each photo sample's detector framing (dx, dy, log side ratio), NaN where none.

    Photos only: there the detector alone frames the person, and there the labelled box and the
    user's differ most (held-out photos 62.4 against 55.1); in video the tracker follows each
    person over many detections (held-out video 96.8 against 96.3), and a detector pass over
    every training frame would cost twice as long again.

    Read from `cache` where it holds every sample for the same detector weights, else found by
    running the detector on each photo (PHOTO_THRESHOLD, as on a photo a user gives) and
    written there."""
    weights = Path(detector) if detector else shipped_detector()
    wid = _weights_id(weights)
    photos = [i for i, s in enumerate(samples) if s.frame is None]
    keys = [_key(samples[i]) for i in photos]
    out = np.full((len(samples), 3), np.nan, np.float32)
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            if str(f["detector"]) == wid:
                known = dict(zip(f["keys"].tolist(), f["framing"], strict=True))
                if all(k in known for k in keys):
                    for i, k in zip(photos, keys, strict=True):
                        out[i] = known[k]
                    return out
    where = {id(samples[i]): i for i in photos}
    find = PersonDetector(weights)
    for sample, rgb in decoded([samples[i] for i in photos]):
        truth = body_box(sample.joints, sample.labelled)
        if truth is None:
            continue
        box = best_match(find(rgb, PHOTO_THRESHOLD), truth, MATCH_IOU)
        if box is not None:
            out[where[id(sample)]] = offset(box, truth)
    if cache is not None:
        with replacing(cache) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, keys=np.array(keys, dtype=str), framing=out[photos], detector=np.array(wid))
    return out


def summary(framing: np.ndarray) -> str:
    """One line: how many samples have a framing, and how far it is from the crop rule's box."""
    ok = np.isfinite(framing).all(1)
    if not ok.any():
        return "detector framing: no sample found"
    f = framing[ok]
    ratio = np.exp(np.abs(f[:, 2]))
    shift = np.hypot(f[:, 0], f[:, 1])
    return (f"detector framing: {ok.sum()} of {len(framing)} samples; side ×/÷ median {np.median(ratio):.2f}, "
            f"90% {np.percentile(ratio, 90):.2f}; centre off median {np.median(shift):.2f}, "
            f"90% {np.percentile(shift, 90):.2f} box sides")
