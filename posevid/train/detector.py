"""Training the person detector (posevid/person/detector.py): `posevid train` with `stage: detector`.

Each training frame is made on the fly, at the detector's input size, in one of two ways:

- a labelled photo or video frame as it is, zoomed and moved (the person from 18 px to twice
  the frame, letterboxed or cut at the edges as a user's frames are);
- a composed frame: a background with nobody in it (parts of labelled video frames away from
  their person, or drawn clutter), with 0 to 3 labelled people pasted at any size and place,
  and pieces of empty background pasted the same way, so that a pasted rectangle's edge
  tells the network nothing.

The targets are a Gaussian peak at each person's crop-rule box centre (roi.body_box), its
offset within the cell and the log of the box side. Sources with several people in view need
every one of them labelled (`posevid label --people all`): an unlabelled person would be
taught as background. What that labelling could not settle (a proposal the teacher did not
confirm: a person seen from behind, or a lamp) is `unsure`, and the loss ignores it.

Like the pose training (train/pose.py), a run is resumable from its checkpoint, logs its loss to
loss.csv and its held-out recall and precision to validation.csv, and every step's frames are
a pure function of (seed, step).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..errors import PosevidError
from ..network.runtime import pick_device
from ..person import detector as det
from ..person.roi import BOX_DROP, BOX_SIDE, Roi, body_box
from .datasets import Sample, iterate_sources
from .pose import (
    CHECKPOINT,
    RunLogs,
    autocast,
    export_path,
    finish_run,
    make_optimizer,
    resume_from,
    run_steps,
)
from .widen import widen_detector

#: Frame shapes (width, height) a batch is drawn at, with their chances: wide video mostly.
SHAPES = ((384, 224), (384, 288), (224, 384), (384, 384))
SHAPE_P = (0.55, 0.15, 0.15, 0.15)
#: A source image is stored with its long side at most this (the detector never needs more).
STORE_SIDE = 480
#: A detection is right when its centre is within this fraction of the true box side, and its
#: side within this ratio of the true side.
MATCH_CENTRE = 0.25
MATCH_SIDE = 1.5


@dataclass
class Person:
    """A labelled source image (RGB) and its person's crop-rule box in its pixels, with the
    boxes of the other people labelled in the same image and of its unsure regions."""

    image: np.ndarray
    box: Roi
    video: bool = False
    others: tuple[Roi, ...] = ()
    unsure: tuple[Roi, ...] = ()


def load_people(samples: list[Sample], every: int = 1) -> list[Person]:
    """Decode each labelled photo, and every `every`-th labelled frame of each video, shrunk to
    STORE_SIDE; samples without head and both shoulders have no crop-rule box and are left out."""
    from ..io.video import VideoReader  # noqa: PLC0415 - keeps scipy-only users free of PyAV

    people: list[Person] = []

    def add(group: list[Sample], rgb: np.ndarray) -> None:
        """One entry per labelled person of an image, each knowing the others (the image is shared)."""
        k = min(1.0, STORE_SIDE / max(rgb.shape[:2]))
        if k < 1.0:
            rgb = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        boxes = [b for b in (body_box(s.joints, s.labelled) for s in group) if b is not None]
        boxes = [Roi(b.x * k, b.y * k, b.side * k) for b in boxes]
        unsure = tuple(Roi(x * k, y * k, side * k) for x, y, side in group[0].unsure)
        for i, box in enumerate(boxes):
            people.append(Person(rgb, box, group[0].frame is not None, tuple(boxes[:i] + boxes[i + 1:]), unsure))

    photos: dict[str, list[Sample]] = {}
    by_video: dict[str, dict[int, list[Sample]]] = {}
    for s in samples:
        if s.frame is None:
            photos.setdefault(s.source, []).append(s)
        elif s.frame % every == 0:
            by_video.setdefault(s.source, {}).setdefault(s.frame, []).append(s)
    for path, group in photos.items():
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        if im is not None:
            add(group, cv2.cvtColor(im, cv2.COLOR_BGR2RGB))
    for video, wanted in by_video.items():
        with VideoReader(video) as r:
            for fr in r.frames():
                group = wanted.pop(fr.index, None)
                if group is not None:
                    add(group, fr.image)
                if not wanted:
                    break
    return people


def empty_parts(people: list[Person], per_image: int = 2) -> list[np.ndarray]:
    """Pieces of frames with nobody in them: the widest strip left or right of each person's box
    (grown by half its side on each side), when it is at least a fifth of the frame wide. Video frames only make
    sense here; photos are cut tight around their person."""
    parts = []
    for p in people[::max(1, len(people) // (per_image * 200 + 1))]:
        h, w = p.image.shape[:2]
        everyone = (p.box, *p.others, *p.unsure)
        grow = 0.5 * max(b.side for b in everyone)
        left = int(min(b.x for b in everyone) - grow)
        right = int(max(b.x + b.side for b in everyone) + grow)
        x0, x1 = (0, left) if left >= w - right else (right, w)
        if x1 - x0 >= w / 5 and x1 - x0 >= 32:
            parts.append(p.image[:, x0:x1].copy())
    return parts


def clutter(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A drawn background with no person in it: a colour gradient, a smooth field of random
    colours, or a noise texture, with random shapes and noise over it. The kinds differ so that
    the detector learns people, not "whatever is not the one kind of background it was shown"
    (with the gradient alone, saturated blotches and flat blocks read as people)."""
    kind = rng.choice(3, p=(0.35, 0.45, 0.2))
    if kind == 0:
        c0, c1 = rng.integers(0, 256, size=(2, 3))
        t = np.linspace(0, 1, h if rng.random() < 0.5 else w, dtype=np.float32)[:, None]
        ramp = (c0 * (1 - t) + c1 * t).astype(np.uint8)
        img = np.ascontiguousarray(np.broadcast_to(ramp[:, None, :], (h, w, 3)) if len(ramp) == h
                                   else np.broadcast_to(ramp[None, :, :], (h, w, 3)))
    elif kind == 1:  # blotches: a coarse grid of random colours, smoothly enlarged
        gw = int(rng.integers(2, 24))
        gh = max(2, round(gw * h / w))
        img = cv2.resize(rng.integers(0, 256, size=(gh, gw, 3)).astype(np.uint8), (w, h),
                         interpolation=cv2.INTER_CUBIC)
    else:  # texture: noise at some scale, blurred, tinted
        k = float(rng.uniform(1, 12))
        small = rng.integers(0, 256, size=(max(2, int(h / k)), max(2, int(w / k)), 1)).astype(np.float32)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        img = np.clip(tex * rng.uniform(0.2, 1.0, size=3) + rng.uniform(0, 128, size=3), 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 25))):
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.integers(3, max(4, w // 3)))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.rectangle(img, (x, y), (x + size, y + int(rng.integers(3, max(4, h // 3)))), colour, -1)
        elif shape == 1:
            cv2.circle(img, (x, y), size // 2, colour, -1)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 6)))
    noise = rng.normal(0, rng.uniform(0, 12), size=img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _place(src: np.ndarray, m: np.ndarray, canvas: np.ndarray) -> None:
    """Draw src onto canvas through the 2×3 affine m, leaving canvas pixels outside src as they are."""
    cv2.warpAffine(src, m, (canvas.shape[1], canvas.shape[0]), dst=canvas, flags=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_TRANSPARENT)


def _affine(box: Roi, side: float, cx: float, cy: float, flip: bool, width: int) -> np.ndarray:
    """Scale box to `side` pixels with its centre at (cx, cy); mirrored about the canvas when flip."""
    s = side / box.side
    m = np.array([[s, 0.0, cx - s * (box.x + box.side / 2)], [0.0, s, cy - s * (box.y + box.side / 2)]])
    if flip:
        m = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    return m


def _moved(box: Roi, m: np.ndarray) -> Roi:
    """A square box through a scale-translate(-flip) affine."""
    s = abs(m[0, 0])
    cx, cy = m @ np.array([box.x + box.side / 2, box.y + box.side / 2, 1.0])
    side = box.side * s
    return Roi(cx - side / 2, cy - side / 2, side)


def _turned(box: Roi, quarters: int, shape: tuple[int, ...]) -> Roi:
    """The crop-rule box of the same person once the image (`shape`: its h, w) is turned by
    `quarters` quarter turns counter-clockwise, as np.rot90 turns it: the shoulders' midpoint
    turns with the image, and the rule puts the box centre BOX_DROP body scales below it,
    downward in the turned image."""
    if quarters % 4 == 0:
        return box
    drop = BOX_DROP * box.side / BOX_SIDE
    x, y = box.centre[0], box.centre[1] - drop
    h, w = shape[:2]
    for _ in range(quarters % 4):
        x, y, h, w = y, w - x, w, h
    return Roi.centred(x, y + drop, box.side)


class DetectorData:
    """The training (or held-out) people and backgrounds, and the frames of any step."""

    def __init__(self, cfg: dict[str, Any], sources: str = "data"):
        base = Path(cfg.get("base", "."))
        samples = iterate_sources(cfg[sources], base)
        if not samples:
            raise PosevidError(f"the detector config names no labelled samples (train.{sources})")
        self.people = load_people(samples, cfg["detector"]["frame_every"])
        if not self.people:
            raise PosevidError("none of the labelled samples could be read")
        self.videos = [p for p in self.people if p.video]
        self.backgrounds = empty_parts(self.videos or self.people)
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.people)

    def background(self, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
        if self.backgrounds and rng.random() < 0.6:
            part = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            k = max(w / part.shape[1], h / part.shape[0]) * rng.uniform(1.0, 2.0)
            big = cv2.resize(part, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
            y, x = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
            img = np.ascontiguousarray(big[y:y + h, x:x + w])
            return img[:, ::-1].copy() if rng.random() < 0.5 else img
        return clutter(rng, w, h)

    def frame(self, rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, list[Roi], list[Roi]]:
        """One training frame (h×w×3 uint8), the boxes of the people in it and its unsure boxes."""
        opt = self.cfg["detector"]
        lo = float(opt["min_side"])
        if rng.random() < opt["whole_frame"]:
            # video frames as often as photos, though they are fewer: they are the framings users
            # film (close-ups of signers and presenters, whose box is wider than the frame)
            pool = self.videos if self.videos and rng.random() < opt["video_share"] else self.people
            p = pool[int(rng.integers(len(pool)))]
            ih, iw = p.image.shape[:2]
            flip = bool(rng.random() < 0.5)
            if rng.random() < opt["as_filmed"]:
                # as filmed: the image fills the frame (cut, or letterboxed when shapes differ a lot),
                # a little zoomed or shifted; the person stays where the camera put them
                k = (max if rng.random() < 0.7 else min)(w / iw, h / ih) * rng.uniform(0.9, 1.15)
                tx = (w - k * iw) / 2 + rng.uniform(-0.1, 0.1) * w
                ty = (h - k * ih) / 2 + rng.uniform(-0.1, 0.1) * h
                c = np.array([p.box.x + p.box.side / 2, p.box.y + p.box.side / 2]) * k + [tx, ty]
                m = _affine(p.box, p.box.side * k, c[0], c[1], flip, w)
            else:
                side = math.exp(rng.uniform(math.log(lo), math.log(opt["max_side"] * min(w, h))))
                cx, cy = rng.uniform(0.05, 0.95) * w, rng.uniform(0.1, 1.0) * h
                m = _affine(p.box, side, cx, cy, flip, w)
            side = p.box.side * abs(m[0, 0])
            fill = int(rng.integers(0, 256)) if rng.random() < 0.3 else 0
            img = cv2.warpAffine(p.image, m, (w, h), flags=cv2.INTER_AREA if side < p.box.side else cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill))
            boxes = [_moved(b, m) for b in (p.box, *p.others)]
            unsure = [_moved(b, m) for b in p.unsure]
        else:
            img = self.background(rng, w, h)
            boxes, unsure = [], []
            for _ in range(int(rng.choice(4, p=opt["people"]))):
                p = self.people[int(rng.integers(len(self.people)))]
                side = math.exp(rng.uniform(math.log(lo), math.log(0.9 * min(w, h))))
                for _try in range(5):
                    cx, cy = rng.uniform(0, w), rng.uniform(0.1 * h, h)
                    box = Roi.centred(cx, cy, side)
                    if all(det.iou(box, b) < 0.1 for b in boxes):
                        break
                else:
                    continue
                grow = rng.uniform(1.0, 1.6)
                g = p.box.side * grow
                x0, y0 = max(0, int(p.box.x + p.box.side / 2 - g / 2)), max(0, int(p.box.y + p.box.side / 2 - g / 2))
                piece = p.image[y0:int(y0 + g), x0:int(x0 + g)]
                local = Roi(p.box.x - x0, p.box.y - y0, p.box.side)
                # drawn only when asked, so that older configs make the same frames as before
                turns = int(rng.integers(1, 4)) if opt["turn"] > 0 and rng.random() < opt["turn"] else 0
                local = _turned(local, turns, piece.shape)
                m = _affine(local, side, cx, cy, bool(rng.random() < 0.5), w)
                _place(np.ascontiguousarray(np.rot90(piece, turns)) if turns else piece, m, img)
                boxes.append(_moved(local, m))
                # anyone else whose centre the piece holds comes along, labelled or unsure
                ph, pw = piece.shape[:2]
                for group, out in ((p.others, boxes), (p.unsure, unsure)):
                    for b in group:
                        bx, by = b.centre[0] - x0, b.centre[1] - y0
                        if 0 <= bx < pw and 0 <= by < ph:
                            out.append(_moved(_turned(Roi(b.x - x0, b.y - y0, b.side), turns, piece.shape), m))
            for _ in range(int(rng.integers(0, 3))):  # empty pieces, pasted as people are
                if not self.backgrounds:
                    break
                part = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
                side = math.exp(rng.uniform(math.log(lo), math.log(0.9 * min(w, h))))
                k = side / max(part.shape[:2])
                m = np.array([[k, 0, rng.uniform(-0.3, 1.0) * w], [0, k, rng.uniform(-0.3, 1.0) * h]])
                under = img.copy()
                _place(part, m, img)
                for b in boxes:  # keep the pasted people visible
                    x0, y0 = max(0, int(b.x)), max(0, int(b.y))
                    img[y0:int(b.y + b.side), x0:int(b.x + b.side)] = under[y0:int(b.y + b.side), x0:int(b.x + b.side)]
        return photometric(img, rng), [b for b in boxes if _in_view(b, w, h)], unsure

    def frames(self, step: int, size: int) -> list[tuple[np.ndarray, list[Roi], list[Roi]]]:
        """The frames of one step, all of one shape. With `detector.overfit: k` the run cycles
        through k fixed batches (the recipe check: can the net learn a few dozen frames?)."""
        seed, k = self.cfg["seed"], self.cfg["detector"].get("overfit", 0)
        step = step % k if k else step
        rng = np.random.default_rng([seed, step])
        w, h = SHAPES[int(rng.choice(len(SHAPES), p=SHAPE_P))]
        return [self.frame(np.random.default_rng([seed, step, b]), w, h) for b in range(size)]

    def batch(self, step: int, size: int) -> tuple[torch.Tensor, ...]:
        """(frames B×3×H×W, score targets B×h×w, regression targets B×3×h×w, centre mask B×h×w,
        where the score counts B×h×w: 0 at unsure regions)."""
        frames, boxes, unsure = zip(*self.frames(step, size), strict=True)
        h, w = frames[0].shape[:2]
        return (det.to_tensor(list(frames)), *targets(list(boxes), w, h, list(unsure)))


def _in_view(b: Roi, w: int, h: int) -> bool:
    """Whether a box's centre is in the frame (a little outside counts: a close-up's box centre
    lies below the frame when the shoulders are at its bottom edge)."""
    m = 0.1 * b.side
    cx, cy = b.centre
    return -m <= cx <= w + m and -m <= cy <= h + m and b.side >= 8


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, blur, noise and JPEG compression, as broadcasts and phones degrade frames."""
    out = img.astype(np.float32) * (1 + rng.uniform(-0.25, 0.25, size=3)) + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.8))
    if rng.random() < 0.3:
        out += rng.normal(0, rng.uniform(2, 10), size=out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 85))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def targets(boxes: list[list[Roi]], w: int, h: int, unsure: list[list[Roi]] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Score maps (Gaussians at the box centres, σ growing with the box), and at each centre's cell
    its offset (cells) and log side (cells), with a mask of those cells; and where the score
    counts: everywhere but around the centres of unsure boxes (a quarter of their side)."""
    gh, gw = h // det.STRIDE, w // det.STRIDE
    score = np.zeros((len(boxes), gh, gw), np.float32)
    reg = np.zeros((len(boxes), 3, gh, gw), np.float32)
    mask = np.zeros((len(boxes), gh, gw), np.float32)
    care = np.ones((len(boxes), gh, gw), np.float32)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32) + 0.5
    for i, frame_unsure in enumerate(unsure or []):
        for b in frame_unsure:
            r = max(1.0, 0.25 * b.side / det.STRIDE)
            near = (xx - b.centre[0] / det.STRIDE) ** 2 + (yy - b.centre[1] / det.STRIDE) ** 2 <= r * r
            care[i][near] = 0.0
    for i, frame_boxes in enumerate(boxes):
        for b in sorted(frame_boxes, key=lambda r: -r.side):
            cx, cy = b.centre[0] / det.STRIDE, b.centre[1] / det.STRIDE
            sigma = max(0.7, 0.08 * b.side / det.STRIDE)
            gx, gy = int(np.clip(cx, 0, gw - 1)), int(np.clip(cy, 0, gh - 1))
            # the peak sits on the centre's cell (the nearest cell when the centre is just outside)
            px, py = np.clip(cx, 0, gw - 0.01), np.clip(cy, 0, gh - 0.01)
            g = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2))
            score[i] = np.maximum(score[i], g)
            score[i, gy, gx] = 1.0
            reg[i, :, gy, gx] = (cx - gx - 0.5, cy - gy - 0.5, math.log(b.side / det.STRIDE))
            mask[i, gy, gx] = 1.0
    return torch.from_numpy(score), torch.from_numpy(reg), torch.from_numpy(mask), torch.from_numpy(care)


def detector_loss(out: torch.Tensor, score: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor,
                  care: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CenterNet's penalty-reduced focal loss on the score map (none where `care` is 0), and L1 on
    offset and log side at the centres; both per person in the batch."""
    logit = out[:, 0].float()
    p = torch.sigmoid(logit)
    pos = score >= 1.0
    log_p, log_not_p = torch.nn.functional.logsigmoid(logit), torch.nn.functional.logsigmoid(-logit)
    pos_loss = ((1 - p) ** 2 * log_p)[pos].sum()
    neg = (1 - score) ** 4 * p**2 * log_not_p
    if care is not None:
        neg = neg * care
    neg_loss = neg[~pos].sum()
    n = mask.sum().clamp_min(1.0)
    focal = -(pos_loss + neg_loss) / n
    l1 = ((out[:, 1:].float() - reg).abs().sum(1) * mask).sum() / n
    return focal, l1


# --- held-out measures --------------------------------------------------------------------------

def matches(found: list[Roi], truth: list[Roi]) -> int:
    """How many true boxes a detection matches (centre within MATCH_CENTRE of the side, side within
    MATCH_SIDE), each detection used once, strongest (first) first."""
    used: set[int] = set()
    hits = 0
    for d in found:
        for k, t in enumerate(truth):
            if k in used:
                continue
            dc = math.dist(d.centre, t.centre)
            if dc <= MATCH_CENTRE * t.side and 1 / MATCH_SIDE <= d.side / t.side <= MATCH_SIDE:
                used.add(k)
                hits += 1
                break
    return hits


def held_out_frames(data: DetectorData, n: int = 300) -> list[tuple[np.ndarray, list[Roi]]]:
    """Fixed held-out frames (seed 1) drawn by the training rule from held-out people and places."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([1, i])
        w, h = SHAPES[i % len(SHAPES)]
        img, boxes, _ = data.frame(rng, w, h)
        out.append((img, boxes))
    return out


def recall_precision(find: Callable[[np.ndarray], list[Roi]], frames: list[tuple]) -> tuple[float, float]:
    """Recall (% of true people found) and precision (% of detections that are people) of a finder
    over frames with their true boxes (train_detector.matches decides what is found). A frame
    may come with a third element, its unsure boxes: a detection of one of those that is no true
    person's counts neither way."""
    hits = n_true = n_found = 0
    for img, truth, *rest in frames:
        found = find(img)
        if rest and rest[0]:
            found = [d for d in found if matches([d], truth) or not matches([d], rest[0])]
        hits += matches(found, truth)
        n_true += len(truth)
        n_found += len(found)
    return 100.0 * hits / max(1, n_true), 100.0 * hits / max(1, n_found)


@torch.no_grad()
def score_frames(net: torch.nn.Module, frames: list[tuple[np.ndarray, list[Roi]]],
                 threshold: float = det.SCORE_THRESHOLD) -> dict[str, float]:
    """Recall and precision of a network in training on frames at its input size, and ms a frame."""
    was = net.training
    net.eval()
    t0 = time.perf_counter()
    recall, precision = recall_precision(
        lambda img: [d.roi for d in det.decode(net(det.to_tensor([img]))[0], 1.0, threshold)], frames)
    net.train(was)
    return {"recall": recall, "precision": precision, "ms": 1000 * (time.perf_counter() - t0) / max(1, len(frames))}


def export_checkpoint(cfg: dict[str, Any]) -> Path:
    """Write the weights of a detector run's latest checkpoint (the run may still be going)."""
    ckpt_path = Path(cfg["out"]) / CHECKPOINT
    if not ckpt_path.exists():
        raise PosevidError(f"{ckpt_path}: no checkpoint to export")
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    net = det.DetectorNet(batchnorm=True, widths=det.widths_of(ck["net"]))
    net.load_state_dict(ck["net"])
    export = export_path(cfg, "detector.pt")
    det.save(export, net, {"iterations": int(ck["step"]), "train_seconds": round(float(ck["elapsed"])),
                           "device": "checkpoint"})
    return export


def train_detector(cfg: dict[str, Any], resume: bool = False, device: str = "auto", progress: bool = True,
                   max_steps: int | None = None) -> Path:
    """Run (or resume) a detector training run; returns the exported weight file."""
    dev = pick_device(device)
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg["seed"])  # the starting weights too are a function of the seed
    widths = tuple(cfg["detector"].get("widths") or det.WIDTHS)
    net = det.DetectorNet(batchnorm=True, widths=widths).to(dev)
    if cfg.get("init") and not resume:  # a finished detector run's checkpoint to start from
        state = torch.load(cfg["init"], map_location="cpu", weights_only=True)["net"]
        if det.widths_of(state) == widths:
            net.load_state_dict(state)
        else:  # a wider detector goes on from a narrower one's function (Net2WiderNet, train/widen.py)
            narrow = det.DetectorNet(batchnorm=True, widths=det.widths_of(state))
            narrow.load_state_dict(state)
            widen_detector(narrow, net.cpu(), seed=cfg["seed"])
            net.to(dev)
    opt = make_optimizer(net, cfg)
    ckpt_path = out / CHECKPOINT
    step, elapsed = resume_from(ckpt_path, net, opt, dev, resume)
    data = DetectorData(cfg)
    overfit = cfg["detector"].get("overfit", 0)
    if overfit:  # the recipe check scores the very frames it trains on
        held = [(img, boxes) for k in range(overfit) for img, boxes, _ in data.frames(k, cfg["batch_size"])]
    else:
        held = held_out_frames(DetectorData(cfg, "validation")) if cfg.get("validation") else []
    amp, amp_dtype = autocast(cfg, dev)
    logs = RunLogs(out, resume, ["step", "loss", "focal", "l1", "lr", "images_per_s", "elapsed_s"],
                   ["step", "recall", "precision", "ms_per_frame", "elapsed_s"])

    def losses(step: int) -> tuple[torch.Tensor, list[torch.Tensor], int]:
        x, score, reg, mask, care = (t.to(dev) for t in data.batch(step, cfg["batch_size"]))
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            pred = net(x)
        focal, l1 = detector_loss(pred, score, reg, mask, care)
        return focal + l1, [focal, l1], len(x)

    def validate(step: int, elapsed: float) -> str:
        row = score_frames(net, held)
        logs.validation([step, f"{row['recall']:.1f}", f"{row['precision']:.1f}", f"{row['ms']:.1f}", f"{elapsed:.0f}"])
        return f"step {step}: validation recall {row['recall']:.1f}, precision {row['precision']:.1f}"

    total = cfg["iterations"] if max_steps is None else min(cfg["iterations"], step + max_steps)
    step, elapsed, stopped = run_steps(cfg, net, opt, ckpt_path, logs, step, elapsed, total, losses,
                                       validate if held else None, progress=progress)
    export = export_path(cfg, "detector.pt")
    det.save(export, net.cpu(), {"iterations": step, "train_seconds": round(elapsed), "people": len(data),
                                 "backgrounds": len(data.backgrounds)})
    return finish_run(out, step, export, stopped)

def place_native(image: np.ndarray, rng: np.random.Generator, background: np.ndarray | None = None,
                 size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, np.ndarray]:
    """A photo at its native size, somewhere off-centre, in a wide frame of clutter (or of
    `background`, resized): how a person small in a broadcast frame looks. Returns the frame and
    the (x, y) offset to add to the photo's coordinates. The photo must fit in the frame."""
    w, h = size
    ih, iw = image.shape[:2]
    frame = clutter(rng, w, h) if background is None else cv2.resize(background, (w, h))
    x, y = int(rng.integers(0, w - iw + 1)), int(rng.integers(0, h - ih + 1))
    frame[y:y + ih, x:x + iw] = image
    return frame, np.array([x, y], dtype=np.float64)
