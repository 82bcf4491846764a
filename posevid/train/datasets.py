"""Labelled data for training and evaluation: readers for the common annotation formats
and the cached, augmentable sample set the training loop draws from.

Readers map every format onto our 7 joints through the tables in joints.py. A data
source is a small dict (as in a training config):

    {type: lsp, labels: path/joints.mat, images: path/images, first: 1, last: 280}
    {type: coco, labels: person_keypoints.json, images: path/to/images}
    {type: posevid, labels: out/video.json}            # video frames, or images via "image"
    {type: posevid, labels: labels/, videos: videos/}  # a folder of JSON, one per video

Any source may add `repeat: k` to be drawn k times as often in training (to keep a few
hundred frames of the target domain from drowning in thousands of sports photos), and a
photo source `swapped: FILE`, a JSON list of image file names whose labels give left and right
as the viewer sees them: those are read with the sides exchanged (sides.py, `posevid check-sides`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io

from ..io.writers import read_json, record_arrays
from ..joints import (
    COCO_NAMES,
    FACE_POINTS,
    FLIC_MAPPING,
    JOINT_INDEX,
    LSP_COMPLETE,
    LSP_MAPPING,
    NUM_JOINTS,
    flip_permutation,
    keypoint_index,
    map_joints,
    named_mapping,
)
from ..person.roi import Roi, body_box, crop, from_joints
from .sides import swap_sides

#: Confidence below which a teacher label is treated as unlabelled.
LABEL_CONFIDENCE = 0.5


# |sin| of the angle between the shoulder line and the head's direction below which a person is
# side-on: neither facing the camera nor turned away (Sample.from_behind)
FACING_MARGIN = 0.3


@dataclass
class Sample:
    """One labelled person: where its pixels come from, and 7 joints in those pixels."""

    source: str          # image path, or video path when frame is not None
    frame: int | None
    joints: np.ndarray   # 7×2 float32
    labelled: np.ndarray  # 7 bool
    time: float = 0.0
    torso: float | None = None  # for torso-normalised PCK, when the format has hips
    repeat: int = 1             # how many times training draws it per epoch
    # boxes (x, y, side) of what may be people the labels leave out in the same image
    # (`posevid label --people all`: proposals the teacher could not confirm); the detector's
    # training neither rewards nor punishes a detection there
    unsure: tuple[tuple[float, float, float], ...] = ()
    # the teacher's face points (joints.FACE_POINTS, 5×2) and which are labelled, where a
    # face-points file (train.faces, faces.py) names this photo; training only
    face: np.ndarray | None = None
    face_labelled: np.ndarray | None = None

    def from_behind(self) -> bool:
        """Whether the labels show the person from behind: their right shoulder on the viewer's
        right, judged against the head's direction so that a tilted camera or a person lying
        does not flip it. Needs the head and both shoulders; a profile (shoulders within
        FACING_MARGIN of the head-to-neck line) counts as neither side."""
        head, right, left = (JOINT_INDEX[n] for n in ("head", "right_shoulder", "left_shoulder"))
        if not self.labelled[[head, right, left]].all():
            return False
        across = self.joints[left] - self.joints[right]
        up = self.joints[head] - (self.joints[left] + self.joints[right]) / 2
        size = float(np.linalg.norm(across) * np.linalg.norm(up))
        # image y points down: a person facing the camera gives a negative cross product
        return size > 0 and float(across[0] * up[1] - across[1] * up[0]) / size > FACING_MARGIN

    def points(self, with_face: bool) -> tuple[np.ndarray, np.ndarray]:
        """The joints, and after them the face points when asked (unlabelled where unknown)."""
        if not with_face:
            return self.joints, self.labelled
        face = self.face if self.face is not None else np.zeros((len(FACE_POINTS), 2), np.float32)
        known = self.face_labelled if self.face_labelled is not None else np.zeros(len(FACE_POINTS), bool)
        return np.concatenate([self.joints, face]), np.concatenate([self.labelled, known])


def read_joints_mat(labels: Path, images: Path, first: int = 1, last: int | None = None) -> list[Sample]:
    """LSP (14×3×N or N×14×3) or FLIC (2×29×N) joints.mat; image k is im%05d.jpg (k from 1).

    LSP joints flagged occluded keep their annotated position; joints outside the image
    count as unlabelled.
    """
    m = scipy.io.loadmat(str(labels))
    arr = next((v for k, v in m.items() if not k.startswith("__") and isinstance(v, np.ndarray)), None)
    if arr is None:
        raise ValueError(f"{labels}: no joints array")
    if arr.shape[0] == 2 and arr.shape[1] == 29:  # FLIC coords
        pts_all, mapping = np.transpose(arr, (2, 1, 0)), FLIC_MAPPING
    elif arr.shape[:2] == (14, 3):
        pts_all, mapping = np.transpose(arr, (2, 0, 1)), LSP_MAPPING
    elif arr.shape[:2] == (3, 14):
        pts_all, mapping = np.transpose(arr, (2, 1, 0)), LSP_MAPPING
    elif arr.ndim == 3 and arr.shape[1:] == (14, 3):
        pts_all, mapping = arr, LSP_MAPPING
    else:
        raise ValueError(f"{labels}: joints array of shape {arr.shape} is neither LSP nor FLIC")
    samples = []
    n = pts_all.shape[0]
    last = n if last is None else min(last, n)
    for k in range(first, last + 1):
        p = pts_all[k - 1]
        xy = p[:, :2]
        ok = np.isfinite(xy).all(1) & (xy >= 0).all(1)
        joints, labelled = map_joints(xy, ok, mapping, LSP_COMPLETE if mapping is LSP_MAPPING else ())
        torso = None
        if mapping is LSP_MAPPING and ok[8] and ok[3]:
            torso = float(np.linalg.norm(xy[8] - xy[3]))  # right shoulder to left hip, as in LSP's PCK
        path = images / f"im{k:05d}.jpg"
        if not path.exists():
            path = images / f"im{k:04d}.jpg"
        samples.append(Sample(str(path), None, joints, labelled, torso=torso))
    return samples


def read_coco(labels: Path, images: Path, min_keypoints: int = 4) -> list[Sample]:
    """COCO keypoints JSON: one sample per annotated person with enough upper-body points.

    Keypoints are read by name (joints.named_mapping): the file's own (categories[0].keypoints),
    so that files in COCO's layout with other points or another order (Human3.6M, CrowdPose, AI
    Challenger, PoseTrack, JHMDB) are read right; without names, COCO's 17 (COCO_NAMES). With hips
    named, each sample keeps its torso (right shoulder to left hip) for torso-normalised PCK."""
    doc = json.loads(Path(labels).read_text())
    files = {im["id"]: im["file_name"] for im in doc.get("images", [])}
    named = next((c["keypoints"] for c in doc.get("categories", []) if c.get("keypoints")), None)
    names = named or COCO_NAMES
    mapping, complete = named_mapping(names)
    left_hip = keypoint_index(names).get("left_hip")
    samples = []
    for ann in doc.get("annotations", []):
        kp = np.asarray(ann.get("keypoints", []), dtype=np.float64).reshape(-1, 3)
        if (not named and len(kp) < len(COCO_NAMES)) or ann.get("iscrowd", 0):
            continue
        joints, labelled = map_joints(kp[:, :2], kp[:, 2] > 0, mapping, complete)
        if labelled.sum() >= min_keypoints and ann["image_id"] in files:
            samples.append(Sample(str(Path(images) / files[ann["image_id"]]), None, joints, labelled,
                                  torso=_torso(joints, labelled, kp, left_hip)))
    return samples


def _torso(joints: np.ndarray, labelled: np.ndarray, kp: np.ndarray, left_hip: int | None) -> float | None:
    """Right shoulder to left hip, as read_joints_mat measures LSP's torso (None unless both are labelled)."""
    if left_hip is None or left_hip >= len(kp) or kp[left_hip, 2] <= 0 or not labelled[1]:
        return None
    return float(np.linalg.norm(joints[1] - kp[left_hip, :2]))


def read_posevid(labels: Path, videos: Path | None = None, min_confidence: float = LABEL_CONFIDENCE) -> list[Sample]:
    """Our own JSON (from annotate or label, possibly corrected by hand), or a folder of them.

    Frames with an "image" field come from images beside the JSON (or under the
    document's "images" folder); the others from the document's video, looked up in
    `videos` by file name when given.
    """
    paths = sorted(Path(labels).glob("*.json")) if Path(labels).is_dir() else [Path(labels)]
    samples = []
    for path in paths:
        doc = read_json(path)
        video = doc.get("video", {}).get("path")
        if video and videos is not None:
            video = str(Path(videos) / Path(video).name)
        image_root = Path(doc.get("images") or path.parent)
        unsure = {int(u["index"]): tuple(tuple(b) for b in u["boxes"]) for u in doc.get("unsure", [])}
        for rec in doc["frames"]:
            xy, conf = record_arrays(rec)
            labelled = np.isfinite(xy).all(1) & (conf >= min_confidence)
            xy = np.nan_to_num(xy)
            others = unsure.get(int(rec["index"]), ())
            if "image" in rec:
                samples.append(Sample(str(image_root / rec["image"]), None, xy, labelled, unsure=others))
            elif video:
                samples.append(Sample(video, int(rec["index"]), xy, labelled, float(rec.get("time", 0.0)),
                                      unsure=others))
    return samples


def read_source(spec: dict[str, Any], base: Path = Path(".")) -> list[Sample]:
    """Read one data source described by a config dict (see the module docstring)."""
    samples = _read_source(spec, base)
    if spec.get("swapped"):
        swap_sides(samples, base / spec["swapped"])
    repeat = int(spec.get("repeat", 1))
    if repeat < 1:
        raise ValueError(f"{spec['labels']}: repeat must be at least 1, not {repeat}")
    for s in samples:
        s.repeat = repeat
    return samples


def _read_source(spec: dict[str, Any], base: Path) -> list[Sample]:
    kind = spec["type"]
    labels = base / spec["labels"]
    if kind in ("lsp", "flic", "mat"):
        return read_joints_mat(labels, base / spec["images"], spec.get("first", 1), spec.get("last"))
    if kind == "coco":
        return read_coco(labels, base / spec["images"])
    if kind == "posevid":
        videos = base / spec["videos"] if spec.get("videos") else None
        return read_posevid(labels, videos, spec.get("min_confidence", LABEL_CONFIDENCE))
    raise ValueError(f"unknown data source type {kind!r} (lsp, flic, coco, posevid)")


# --- pixels -----------------------------------------------------------------------------------

CACHE_MARGIN = 1.5
"""The cached patch is this many times the upper-body box, leaving room for augmentation."""


def decoded(samples: list[Sample]) -> Iterator[tuple[Sample, np.ndarray]]:
    """Each sample with its RGB image or frame: photos as listed, videos decoded in one pass
    each, in frame order (so a video's samples come after the photos). Unreadable photos and
    frames the video does not have are skipped."""
    from ..io.video import VideoReader  # noqa: PLC0415 - keeps scipy-only users free of PyAV

    by_video: dict[str, list[Sample]] = {}
    for s in samples:
        if s.frame is None:
            im = cv2.imread(s.source, cv2.IMREAD_COLOR)
            if im is not None:
                yield s, cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
        else:
            by_video.setdefault(s.source, []).append(s)
    for video, listed in by_video.items():
        wanted = {s.frame: s for s in listed}
        with VideoReader(video) as r:
            for fr in r.frames():
                if fr.index in wanted:
                    yield wanted.pop(fr.index), fr.image
                if not wanted:
                    break


def load_pixels(samples: list[Sample], patch: int, with_face: bool = False, margin: float = CACHE_MARGIN
                ) -> tuple[np.ndarray, np.ndarray, list[Sample]]:
    """Decode each sample once and cache a patch×patch RGB patch around its upper body: `margin`
    times its crop-rule box, centred on it.

    Returns (N×patch×patch×3 uint8, N×7×2 joints in patch pixels, or N×12×2 joints and face
    points `with_face`, the kept samples).
    Samples without head and both shoulders are dropped: their box could only come from a
    fallback rule, a second framing the tracker never gives at inference.
    """
    images, joints, kept = [], [], []
    for sample, rgb in decoded(samples):
        roi = body_box(sample.joints, sample.labelled)
        if roi is None:
            continue
        side = roi.side * margin
        big = Roi(roi.x + roi.side / 2 - side / 2, roi.y + roi.side / 2 - side / 2, side)
        images.append(crop(rgb, big, patch))
        pts = sample.points(with_face)[0]
        joints.append(((pts - [big.x, big.y]) * (patch / big.side)).astype(np.float32))
        kept.append(sample)
    if not images:
        count = NUM_JOINTS + (len(FACE_POINTS) if with_face else 0)
        return np.zeros((0, patch, patch, 3), np.uint8), np.zeros((0, count, 2), np.float32), []
    return np.stack(images), np.stack(joints), kept


# --- augmentation and targets -------------------------------------------------------------------

def augment(patch: np.ndarray, joints: np.ndarray, labelled: np.ndarray, rng: np.random.Generator,
            aug: dict[str, float], input_size: int, framing: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's augmentation in one affine warp: crop (248 of 256), flip, rotation, resize.

    We add scale and colour jitter, because at inference the region of interest is only
    approximately the training box. With probability aug.detector, a sample with a `framing`
    (framing.py: the detector's box of it, relative to the crop rule's) is cut at the detector's
    box instead (chosen_framing), jittered by a tenth of the usual scale and shift. Returns (input_size² RGB, J×2
    joints, J labelled): J is 7, or 12 with the face points.
    """

    p = patch.shape[0]
    box = p / CACHE_MARGIN  # the upper-body box inside the cached patch
    crop_frac = aug.get("crop", 248 / 256)
    scale_j = math.exp(rng.uniform(*scale_range(aug.get("scale", 0.0))))
    side = box * crop_frac * scale_j
    shift = aug.get("shift", (1 - crop_frac) / 2)
    cx = p / 2 + rng.uniform(-1, 1) * shift * box
    cy = p / 2 + rng.uniform(-1, 1) * shift * box
    row = chosen_framing(framing, rng, aug)
    if row is not None:
        dx, dy, dlog = (float(v) for v in row)
        # the detector's box, with a tenth of the random jitter just drawn around the crop rule's
        side = box * crop_frac * math.exp(dlog + math.log(scale_j) / 10)
        cx = p / 2 + dx * box + (cx - p / 2) / 10
        cy = p / 2 + dy * box + (cy - p / 2) / 10
    # spin: a share of crops turned any way at all, so that people lying or upside down (a third
    # of sports photos) are not only the few the data holds
    spin = aug.get("spin", 0.0) > 0 and rng.random() < aug["spin"]
    angle = rng.uniform(-180.0, 180.0) if spin else rng.uniform(-1, 1) * aug.get("rotate", 40.0)
    flip = rng.random() < aug.get("flip", 0.5)
    s = input_size / side
    m = cv2.getRotationMatrix2D((cx, cy), angle, s)
    m[:, 2] += np.array([input_size / 2 - cx, input_size / 2 - cy])
    if flip:
        m = np.array([[-1, 0, input_size - 1], [0, 1, 0]], dtype=np.float64) @ np.vstack([m, [0, 0, 1]])
    img = cv2.warpAffine(patch, m, (input_size, input_size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)
    pts = joints @ m[:, :2].T + m[:, 2]
    lab = labelled.copy()
    if flip:
        perm = list(flip_permutation(len(pts)))
        pts, lab = pts[perm], lab[perm]
    img = colour_and_blur(img, rng, aug)
    if rng.random() < aug.get("occlude", 0.0):
        # a block of flat colour or noise over part of the crop (a microphone, a desk, another
        # person): the joints under it keep their labels, so the net learns to infer them
        w, h = (rng.uniform(0.1, 0.4, size=2) * input_size).astype(int)
        x, y = rng.integers(0, input_size - w), rng.integers(0, input_size - h)
        img = img.copy()
        img[y:y + h, x:x + w] = (rng.integers(0, 256, size=3) if rng.random() < 0.5
                                 else rng.integers(0, 256, size=(h, w, 3)))
    return img, pts.astype(np.float32), lab


def chosen_framing(framing: np.ndarray | None, rng: np.random.Generator, aug: dict[str, float]
                   ) -> np.ndarray | None:
    """The detector framing (dx, dy, log side ratio) a crop is cut at, or None for the crop rule.

    `framing` is one row (3,), or two (2×3): as the photo is, and shown small in a wide frame
    (framing.py). With probability aug.detector a sample that has one is framed by it; of those
    crops, a share aug.detector_wide takes the wide framing where the sample has both (where it
    has only one, that one)."""
    if aug.get("detector", 0.0) <= 0 or framing is None:
        return None
    rows = framing.reshape(-1, 3)
    usable = np.isfinite(rows).all(1)
    if not usable.any() or rng.random() >= aug["detector"]:
        return None
    if len(rows) > 1 and usable[1] and (not usable[0] or rng.random() < aug.get("detector_wide", 0.0)):
        return rows[1]
    return rows[0]


def scale_range(scale: float | list[float]) -> tuple[float, float]:
    """The log-uniform range of the crop's side, as logs of factors of the box: a number s means
    ×/÷(1 + s); a pair [lo, hi] means factors lo to hi, which can lean towards larger crops (a
    crop too small cuts the hands off, one too large only shows them smaller). Tried for the
    default network and not shipped: configs/h128-frame.yaml, docs/training.md."""
    if isinstance(scale, (list, tuple)):
        lo, hi = (float(v) for v in scale)
        if not 0 < lo <= hi:
            raise ValueError(f"augment.scale [lo, hi] needs 0 < lo <= hi, not {scale!r}")
        return math.log(lo), math.log(hi)
    half = math.log(1 + float(scale))
    return -half, half


def colour_and_blur(img: np.ndarray, rng: np.random.Generator, aug: dict[str, float]) -> np.ndarray:
    """The run's colour jitter (gain per channel, one bias) and, with probability aug.blur, a
    Gaussian blur (motion, focus and low-resolution broadcasts)."""
    colour = aug.get("colour", 0.0)
    if colour:
        gain = 1 + rng.uniform(-colour, colour, size=3)
        bias = rng.uniform(-colour, colour) * 64
        img = np.clip(img.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    if rng.random() < aug.get("blur", 0.0):
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    return img


def iterate_sources(specs: Iterable[dict[str, Any]], base: Path = Path(".")) -> list[Sample]:
    out: list[Sample] = []
    for spec in specs:
        out.extend(read_source(spec, base))
    return out


def videos_of(samples: list[Sample]) -> dict[str, dict[int, Sample]]:
    """Group video samples by video file, keyed by frame index."""
    out: dict[str, dict[int, Sample]] = {}
    for s in samples:
        if s.frame is not None:
            out.setdefault(s.source, {})[s.frame] = s
    return out


def label_regions(labels: dict[int, Sample]):
    """A per-frame region chooser for the pipeline: the labelled upper-body box of each frame,
    holding the last one over unlabelled frames (so evaluation measures pose, not tracking)."""
    last: list[Roi | None] = [None]

    def region(frame) -> Roi | None:  # noqa: ANN001 - a video.Frame
        s = labels.get(frame.index)
        if s is not None:
            r = from_joints(s.joints, s.labelled)
            if r is not None:
                last[0] = r
        return last[0]

    return region
