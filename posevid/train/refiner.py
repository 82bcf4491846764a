"""Training the box refiner (posevid/person/refine.py): `posevid train` with `stage: refiner`.

Each training example is a labelled person (photo or teacher-labelled video frame) seen through
a box moved and resized the way the detector's boxes are wrong: the log of the side off by a
Gaussian of sd `scale_noise` most of the time and by anything up to ±`scale_wide` otherwise,
the centre off by a Gaussian of sd `shift_noise` box sides. The window is cut from the person's
frame itself (kept at load as the part within MARGIN boxes, at most MAX_BOX pixels a box), by
refine.window_image as at inference, so a window looks as sharp as the frame allows; half the
time the frame is first shrunk (a wide shot). The frame is turned (±rotate, or any way with
probability spin, as the pose network's crops) in the same resampling, the window mirrored and
jittered in colour and blur; the target is the crop-rule box (roi.body_box) of the joints as
turned. Every example is a pure function of (seed, step), so a resumed run draws what it would
have drawn.

Logs: loss.csv, and at each validation (validation.csv) two scores, each the median error of the
log side and how many boxes are within ×/÷1.22 of the true side with their centre within a tenth
of it, before and after refinement: the held-out people seen through boxes drawn by the same
rule with a fixed seed, and (`refiner.real`, columns real_*) the shipped detector's own boxes of
labelled photos the run does not train on, which is what a refiner is for.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..errors import PosevidError
from ..network.runtime import pick_device
from ..person import refine as rf
from ..person.detector import to_tensor
from ..person.roi import Roi, body_box
from .datasets import colour_and_blur, decoded, iterate_sources
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

#: The region kept around each person, in crop-rule boxes (clipped to the frame): room for the
#: largest window (CONTEXT times a box exp(scale_wide) too large, moved by shift_max, turned).
MARGIN = 6.0
#: A person's crop-rule box is kept at most this many pixels wide: video frames of people close up
#: are shrunk to it (memory), photos are kept as they are. Windows are then cut from these
#: frames by window_image, as at inference, so how sharp a window looks tells the person's size
#: in the frame, not the box's error (run 1-3's examples, cut from patches cached at one
#: resolution a box, taught the network the latter: docs/training.md section 4).
MAX_BOX = 160
#: A box within this factor of the true side, centred within GOOD_SHIFT of its side, is framed
#: well enough (the pose network trains with scale jitter ×/÷1.35).
GOOD_SCALE = 1.22
GOOD_SHIFT = 0.1


class RefinerData:
    """The people of a config's sources (`data` or `validation`), each as the part of its frame
    around it (MARGIN boxes, at most MAX_BOX pixels a box) and its joints there."""

    def __init__(self, cfg: dict[str, Any], sources: str = "data"):
        samples = iterate_sources(cfg[sources], Path(cfg.get("base", ".")))
        if not samples:
            raise PosevidError(f"the refiner config names no labelled samples (train.{sources})")
        self.images: list[np.ndarray] = []
        self.joints: list[np.ndarray] = []
        kept = []
        for sample, rgb in decoded(samples):
            region = cut_region(rgb, sample.joints, sample.labelled)
            if region is not None:
                self.images.append(region[0])
                self.joints.append(region[1])
                kept.append(sample)
        if not kept:
            raise PosevidError("none of the labelled samples could be read")
        self.labelled = np.stack([s.labelled for s in kept])
        weight = np.array([s.repeat for s in kept], np.float64)
        self.p = weight / weight.sum()
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.images)

    def example(self, rng: np.random.Generator, k: int, augment: bool = True
                ) -> tuple[np.ndarray, np.ndarray, Roi, Roi]:
        """One example of person k: (input image, target row, true box, noisy box), the boxes in
        the coordinates of the region as turned (and mirrored about the window's centre)."""
        cfg, aug = self.cfg["refiner"], self.cfg["augment"]
        image, joints = self.images[k], self.joints[k]
        if augment and rng.random() < cfg["smaller"]:
            # the person smaller in the frame (a wide shot): the whole region shrunk, so the window
            # is cut at the resolution such a frame has, whatever the box's error
            image, joints = shrunk(image, joints, math.exp(rng.uniform(math.log(cfg["resolution"]), 0.0)))
        angle = 0.0
        if augment:
            spin = rng.random() < aug.get("spin", 0.0)
            angle = rng.uniform(-180.0, 180.0) if spin else rng.uniform(-1, 1) * aug.get("rotate", 0.0)
        turn = None
        if angle:
            turn = cv2.getRotationMatrix2D(body_box(joints, self.labelled[k]).centre, angle, 1.0)
            joints = joints @ turn[:, :2].T + turn[:, 2]
        truth = body_box(joints, self.labelled[k])
        wide = rng.random() < cfg["wide_share"]
        dlog = rng.uniform(-cfg["scale_wide"], cfg["scale_wide"]) if wide else rng.normal(0, cfg["scale_noise"])
        dlog = float(np.clip(dlog, -cfg["scale_wide"], cfg["scale_wide"]))
        dx, dy = np.clip(rng.normal(0, cfg["shift_noise"], 2), -cfg["shift_max"], cfg["shift_max"])
        cx, cy = truth.centre
        noisy = Roi.centred(cx + dx * truth.side, cy + dy * truth.side, truth.side * math.exp(dlog))
        win = rf.window(noisy)
        row = rf.target(truth, win)
        img = rf.window_image(image, win, turn)
        if augment:
            if rng.random() < aug.get("flip", 0.0):  # mirrored about the window's centre, the noisy box's
                img, row[0] = img[:, ::-1].copy(), -row[0]
                truth = Roi.centred(2 * noisy.centre[0] - truth.centre[0], truth.centre[1], truth.side)
            if rng.random() < cfg["low_res"]:  # a soft or heavily compressed frame
                n = int(rng.integers(rf.REFINE_SIZE // 4, rf.REFINE_SIZE))
                img = cv2.resize(cv2.resize(img, (n, n), interpolation=cv2.INTER_AREA), img.shape[:2][::-1],
                                 interpolation=cv2.INTER_LINEAR)
            img = colour_and_blur(img, rng, aug)
        return img, row, truth, noisy

    def fixed(self, step: int, size: int) -> list[tuple[np.ndarray, np.ndarray, Roi, Roi]]:
        """The examples of a step's batch (a pure function of seed and step)."""
        rng = np.random.default_rng([self.cfg["seed"], step])
        ks = rng.choice(len(self), size=size, p=self.p)
        return [self.example(rng, int(k)) for k in ks]

    def batch(self, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, rows, *_ = zip(*self.fixed(step, size), strict=True)
        return to_tensor(list(images)), torch.from_numpy(np.stack(rows))


def cut_region(rgb: np.ndarray, joints: np.ndarray, labelled: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of a frame within MARGIN crop-rule boxes of the person (clipped to the frame,
    shrunk so that the box is at most MAX_BOX pixels), and the joints in its pixels; None when
    the labels give no crop-rule box."""
    box = body_box(joints, labelled)
    if box is None:
        return None
    h, w = rgb.shape[:2]
    cx, cy = box.centre
    half = box.side * MARGIN / 2
    x0, y0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
    x1, y1 = min(w, math.ceil(cx + half)), min(h, math.ceil(cy + half))
    if x1 <= x0 or y1 <= y0:
        return None
    region, inside = shrunk(rgb[y0:y1, x0:x1], joints - [x0, y0], min(1.0, MAX_BOX / box.side))
    return np.ascontiguousarray(region), inside.astype(np.float32)


def shrunk(image: np.ndarray, joints: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    """An image shrunk by f (area-averaged; as it is when f is 1) and its joints in the new pixels."""
    if f >= 1.0:
        return image, joints
    size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
    return (cv2.resize(image, size, interpolation=cv2.INTER_AREA),
            joints * [size[0] / image.shape[1], size[1] / image.shape[0]])


def detector_boxes(cfg: dict[str, Any]) -> list[tuple[np.ndarray, Roi, Roi]]:
    """The shipped detector's boxes of the people of `refiner.real` (photos the run does not train
    on), as held-out examples (window image, true box, the detector's box): what the refiner
    is for, scored at every validation beside the drawn errors. A person counts where a detection
    overlaps their crop-rule box by IoU 0.3 or more (the best one)."""
    from ..person.detector import PersonDetector  # noqa: PLC0415 - the detector's weights only here
    from ..person.tracking import MATCH_IOU, PHOTO_THRESHOLD  # noqa: PLC0415
    from .framing import best_match  # noqa: PLC0415

    sources = cfg["refiner"].get("real") or []
    if not sources:
        return []
    detector = PersonDetector()
    out = []
    for sample, rgb in decoded(iterate_sources(sources, Path(cfg.get("base", ".")))):
        truth = body_box(sample.joints, sample.labelled)
        if truth is None:
            continue
        box = best_match(detector(rgb, PHOTO_THRESHOLD), truth, MATCH_IOU)
        if box is not None:
            out.append((rf.window_image(rgb, rf.window(box)), truth, box))
    return out


def held_out(data: RefinerData, n: int = 600) -> list[tuple[np.ndarray, Roi, Roi]]:
    """Fixed held-out examples (seed 1, no augmentation): (image, true box, noisy box)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([1, i])
        img, _, truth, noisy = data.example(rng, i % len(data), augment=False)
        out.append((img, truth, noisy))
    return out


def framing(boxes: list[Roi], truths: list[Roi]) -> tuple[float, float]:
    """(median |log side error|, % of boxes framed well: GOOD_SCALE and GOOD_SHIFT)."""
    logs = np.array([abs(math.log(b.side / t.side)) for b, t in zip(boxes, truths, strict=True)])
    shift = np.array([math.dist(b.centre, t.centre) / t.side for b, t in zip(boxes, truths, strict=True)])
    good = (logs < math.log(GOOD_SCALE)) & (shift < GOOD_SHIFT)
    return float(np.median(logs)), 100.0 * float(good.mean())


def score(net: torch.nn.Module, held: list[tuple[np.ndarray, Roi, Roi]], flip: bool = True) -> dict[str, float]:
    """Framing of the held-out boxes before and after one pass of the network in training (with
    its mirror image averaged in, as BoxRefiner runs it, when `flip`)."""
    was = net.training
    net.eval()
    out = rf.run(net, to_tensor([img for img, _, _ in held]), flip=flip)
    net.train(was)
    truths = [t for _, t, _ in held]
    refined = [rf.decode(o, rf.window(noisy)) for o, (_, _, noisy) in zip(out, held, strict=True)]
    before, good_before = framing([noisy for _, _, noisy in held], truths)
    after, good_after = framing(refined, truths)
    return {"before": before, "after": after, "good_before": good_before, "good_after": good_after}


def refiner_loss(pred: torch.Tensor, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Smooth L1 on the centre (in window sides) and on the log side; (total, centre, side)."""
    centre = torch.nn.functional.smooth_l1_loss(pred[:, :2].float(), row[:, :2], beta=0.02)
    side = torch.nn.functional.smooth_l1_loss(pred[:, 2].float(), row[:, 2], beta=0.05)
    return centre + side, centre, side


def train_refiner(cfg: dict[str, Any], resume: bool = False, device: str = "auto", progress: bool = True,
                  max_steps: int | None = None) -> Path:
    """Run (or resume) a box-refiner training run; returns the exported weight file."""
    dev = pick_device(device)
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg["seed"])
    net = rf.RefinerNet(batchnorm=True).to(dev)
    opt = make_optimizer(net, cfg)
    ckpt_path = out / CHECKPOINT
    step, elapsed = resume_from(ckpt_path, net, opt, dev, resume)
    data = RefinerData(cfg)
    overfit = cfg["refiner"].get("overfit", 0)
    if overfit:  # the recipe check: k fixed batches, scored on the very images it learns
        held = [(img, truth, noisy) for k in range(overfit)
                for img, _, truth, noisy in data.fixed(k, cfg["batch_size"])]
    else:
        held = held_out(RefinerData(cfg, "validation")) if cfg.get("validation") else []
    real = [] if overfit else detector_boxes(cfg)
    amp, amp_dtype = autocast(cfg, dev)
    logs = RunLogs(out, resume, ["step", "loss", "centre", "side", "lr", "images_per_s", "elapsed_s"],
                   ["step", "median_log_error_before", "median_log_error_after", "good_before", "good_after",
                    "real_before", "real_after", "real_good_before", "real_good_after", "elapsed_s"])

    def losses(step: int) -> tuple[torch.Tensor, list[torch.Tensor], int]:
        x, row = (t.to(dev) for t in data.batch(step % overfit if overfit else step, cfg["batch_size"]))
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            pred = net(x)
        total, centre, side = refiner_loss(pred, row)
        return total, [centre, side], len(x)

    def validate(step: int, elapsed: float) -> str:
        nan = dict.fromkeys(("before", "after", "good_before", "good_after"), float("nan"))
        r = score(net, held, flip=not overfit) if held else nan  # the recipe check learns its images one way round
        d = score(net, real) if real else nan
        logs.validation([step, f"{r['before']:.4f}", f"{r['after']:.4f}", f"{r['good_before']:.1f}",
                         f"{r['good_after']:.1f}", f"{d['before']:.4f}", f"{d['after']:.4f}",
                         f"{d['good_before']:.1f}", f"{d['good_after']:.1f}", f"{elapsed:.0f}"])
        line = (f"step {step}: held-out median |log side error| {r['before']:.3f} -> {r['after']:.3f}, "
                f"framed well {r['good_before']:.1f}% -> {r['good_after']:.1f}%")
        if real:
            line += (f"; the detector's boxes of {len(real)} photos {d['before']:.3f} -> {d['after']:.3f}, "
                     f"{d['good_before']:.1f}% -> {d['good_after']:.1f}%")
        return line

    total = cfg["iterations"] if max_steps is None else min(cfg["iterations"], step + max_steps)
    step, elapsed, stopped = run_steps(cfg, net, opt, ckpt_path, logs, step, elapsed, total, losses,
                                       validate if held or real else None, progress=progress)
    export = write_export(cfg, net, {"iterations": step, "train_seconds": round(elapsed), "people": len(data)})
    return finish_run(out, step, export, stopped)


def write_export(cfg: dict[str, Any], net: rf.RefinerNet, meta: dict[str, Any]) -> Path:
    """Write a run's weights where its config says (train.export, else OUT/refiner.pt)."""
    export = export_path(cfg, "refiner.pt")
    rf.save(export, net.cpu(), meta)
    return export


def export_checkpoint(cfg: dict[str, Any]) -> Path:
    """Write the weights of a refiner run's latest checkpoint (the run may still be going)."""
    ckpt_path = Path(cfg["out"]) / CHECKPOINT
    if not ckpt_path.exists():
        raise PosevidError(f"{ckpt_path}: no checkpoint to export")
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    net = rf.RefinerNet(batchnorm=True)
    net.load_state_dict(ck["net"])
    return write_export(cfg, net, {"iterations": int(ck["step"]), "train_seconds": round(float(ck["elapsed"])),
                                   "device": "checkpoint"})
