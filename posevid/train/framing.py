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

A second framing of each photo (`augment.detector_wide`): the photo at its native size,
off-centre in a 1280×720 frame of clutter, as ../shared/eval/lsp80_wide and broadcast frames
show people. There the detector reads the person on its coarse grid at 1280 px, and the tracker
frames a small person again from the pose network's own head and shoulders on that box
(tracking.reframed, REFINE_BELOW): a framing with errors of another kind, which the network
also meets at inference. Keyed by the detector's and the pose model's weights.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from ..io.atomic import replacing
from ..person.detector import Detection, PersonDetector, iou, shipped_detector
from ..person.roi import Roi, body_box
from ..person.tracking import MATCH_IOU, PHOTO_THRESHOLD, reframed
from .datasets import Sample, decoded

#: The files in a run's folder that keep its samples' framings: as the photos are, and shown
#: small in wide frames.
FRAMING_FILE = "framing.npz"
WIDE_FRAMING_FILE = "framing-wide.npz"
#: The wide frame a photo is shown in, at its native size (larger photos get no wide framing).
WIDE_FRAME = (1280, 720)


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


def wide_view(rgb: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Sample `index`'s photo at its native size in a WIDE_FRAME frame of clutter, placed by a
    seed of its own, and the (x, y) offset of the photo there; None if it does not fit."""
    from .detector import place_native  # noqa: PLC0415 - train.detector imports this module's users

    h, w = rgb.shape[:2]
    if w > WIDE_FRAME[0] or h > WIDE_FRAME[1]:
        return None
    return place_native(rgb, np.random.default_rng([7, index]), None, WIDE_FRAME)


def framings(samples: list[Sample], cache: Path | None = None, detector: Path | None = None,
             wide: bool = False, model: Path | None = None) -> np.ndarray:
    """N×3 float32: each photo sample's detector framing (dx, dy, log side ratio), NaN where none.

    Photos only: there the detector alone frames the person, and there the labelled box and the
    user's differ most (held-out photos 62.4 against 55.1); in video the tracker follows each
    person over many detections (held-out video 96.8 against 96.3), and a detector pass over
    every training frame would cost twice as long again.

    With `wide`, each photo is shown at its native size in a WIDE_FRAME frame of clutter (placed
    by a seed of its own) and a small person's box is framed again by the pose `model` (the
    shipped one by default) as the tracker does; photos that do not fit get NaN.

    Read from `cache` where it holds every sample for the same weights, else found by running
    the detector on each photo (PHOTO_THRESHOLD, as on a photo a user gives) and written there."""
    weights = Path(detector) if detector else shipped_detector()
    reframe = None
    wid = _weights_id(weights)
    if wide:
        from ..config import annotate_settings  # noqa: PLC0415 - the pose network only for wide framings
        from ..network.weights import shipped_model  # noqa: PLC0415
        from ..pipeline import Annotator  # noqa: PLC0415

        settings = annotate_settings(window=0, **({"model": str(model)} if model else {}))
        reframe = Annotator(settings).reframe
        wid += "+" + _weights_id(Path(model) if model else shipped_model(settings.preset))
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
        if wide:
            shown = wide_view(rgb, where[id(sample)])
            if shown is None:
                continue
            rgb, (x, y) = shown
            truth = Roi(truth.x + x, truth.y + y, truth.side)
        box = best_match(find(rgb, PHOTO_THRESHOLD), truth, MATCH_IOU)
        if box is not None:
            out[where[id(sample)]] = offset(reframed(rgb, box, reframe), truth)
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
