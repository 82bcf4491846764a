"""The training loop for SpatialNet and SpatialNet Fusion (the paper's stages 1 and 2).

Resumable exactly: the checkpoint holds the network, optimizer, iteration and seed, and
the data order and augmentation of every step are a pure function of (seed, step), so a
resumed run draws the same batches a straight run would have. Checkpoints are written
every few minutes and on Ctrl-C; losses go to a CSV log beside them.
"""
from __future__ import annotations

import csv
import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..errors import Interrupted, PosevidError
from ..io.atomic import replacing
from ..joints import FACE_POINTS, JOINT_TYPES, NUM_JOINTS
from ..network import weights
from ..network.heatmaps import peaks
from ..network.heatmaps import targets as heatmap_targets
from ..network.nets import CoordinateNet, SpatialNetFusion, TemporalPool, calibrate_batchnorm, fold_batchnorm
from ..network.presets import get_preset
from ..network.runtime import native_bf16, nnpack_where_fp32, pick_device
from ..person.roi import BOX_SIDE
from .averaging import WeightAverage
from .datasets import augment, colour_and_blur, iterate_sources, load_pixels
from .distill import EnsembleTargets
from .faces import attach_face_points
from .feeding import TimeBudget, batch_stream
from .framing import FRAMING_FILE, WIDE_FRAMING_FILE, framings
from .framing import summary as framing_summary
from .pack import Packed, read_pack
from .widen import same_layers, widen, widens

CHECKPOINT = "checkpoint.pt"
LOG = "loss.csv"
VALIDATION_LOG = "validation.csv"
#: Batches of training crops the averaged weights' BatchNorm statistics are measured on (averaging.py).
AVERAGE_BN_BATCHES = 64
#: Validation PCK threshold in body scales (the crop rule's unit): 0.3 body scales is about 0.2
#: of the torso (shoulder to opposite hip), the paper's and LSP's PCK@0.2.
VALIDATION_ALPHA = 0.3
#: No augmentation: the crop rule's box exactly, as at inference from a perfect tracker.
NO_AUGMENT = {"crop": 1.0, "shift": 0.0, "flip": 0.0, "rotate": 0.0, "scale": 0.0, "colour": 0.0}


def training_points(cfg: dict[str, Any]) -> int:
    """How many heatmaps a run's network is trained to output: the joints, and the face points
    after them when `face_weight` is above 0 (faces.py; export keeps only the joints)."""
    return NUM_JOINTS + (len(FACE_POINTS) if cfg.get("face_weight", 0.0) > 0 else 0)


def packed_file(cfg: dict[str, Any], sources: str) -> Path:
    """Where a config with `packed: DIR` finds the samples of `sources` (data, validation)."""
    return Path(cfg.get("base", ".")) / cfg["packed"] / f"{sources}.npz"


class TrainingData:
    """Cached patches of all samples, and the deterministic batch for any step."""

    def __init__(self, cfg: dict[str, Any], input_size: int, heatmap_size: int, sources: str = "data"):
        self.cfg, self.input_size, self.heatmap_size = cfg, input_size, heatmap_size
        # each heatmap's weight in the loss: the joints 1, the face points (if any) face_weight
        self.channel_weight = np.ones(training_points(cfg), np.float32)
        self.channel_weight[NUM_JOINTS:] = cfg.get("face_weight", 0.0)
        self._epoch: tuple[int, np.ndarray] = (-1, np.zeros(0, np.int64))
        if cfg.get("packed"):
            self._read_packed(packed_file(cfg, sources))
            return
        samples = iterate_sources(cfg[sources], Path(cfg.get("base", ".")))
        if not samples:
            raise PosevidError(f"the training config names no labelled samples (train.{sources})")
        with_face = training_points(cfg) > NUM_JOINTS
        if with_face and sources == "data" and cfg.get("faces"):
            attach_face_points(samples, Path(cfg.get("base", ".")) / cfg["faces"])
        self.patches, self.joints, kept = load_pixels(samples, cfg["patch"], with_face)
        if not kept:
            raise PosevidError("none of the labelled samples could be read")
        # the detector's own box of each photo, for crops framed as at inference (framing.py)
        self.framing: np.ndarray | None = None
        if sources == "data" and cfg.get("augment", {}).get("detector", 0.0) > 0:
            self.framing = framings(kept, Path(cfg["out"]) / FRAMING_FILE)
            tqdm.write(framing_summary(self.framing))
            if cfg["augment"].get("detector_wide", 0.0) > 0:
                wide = framings(kept, Path(cfg["out"]) / WIDE_FRAMING_FILE, wide=True,
                                model=cfg.get("framing_model"))
                tqdm.write("shown small in 1280×720: " + framing_summary(wide))
                self.framing = np.stack([self.framing, wide], 1)
        self.labelled = np.stack([s.points(with_face)[1] for s in kept])
        self.is_video = np.array([s.frame is not None for s in kept])
        # crops with nobody in them: parts of the labelled video frames away from their people
        self.backgrounds: list[np.ndarray] = []
        if sources == "data" and cfg.get("augment", {}).get("empty", 0.0) > 0:
            from .detector import empty_parts, load_people  # noqa: PLC0415 - decodes video only when asked

            self.backgrounds = empty_parts(load_people([s for s in samples if s.frame is not None], every=10))
        # Each epoch is a permutation of this pool, where a source with repeat k appears k times,
        # and a video frame of a person seen from behind train.behind_repeat times that.
        behind = int(cfg["behind_repeat"]) if sources == "data" else 1
        draws = [s.repeat * (behind if s.frame is not None and s.from_behind() else 1) for s in kept]
        self.pool = np.repeat(np.arange(len(kept)), draws)

    def _read_packed(self, path: Path) -> None:
        """The samples of a pack (train/pack.py) instead of the config's sources."""
        if not path.exists():
            raise PosevidError(f"{path}: no packed samples (write them with posevid train CONFIG --pack DIR)")
        p = read_pack(path)
        self.patches, self.joints, self.labelled, self.backgrounds = p.patches, p.joints, p.labelled, p.backgrounds
        self.framing = None  # a pack keeps patches only: its crops are framed by the crop rule
        self.is_video = np.zeros(len(p.patches), bool)
        self.pool = np.repeat(np.arange(len(p.patches)), p.repeat)

    def as_packed(self) -> Packed:
        """This sample set in train/pack.py's terms, for writing a pack."""
        return Packed(self.patches, self.joints, self.labelled, np.bincount(self.pool, minlength=len(self)),
                      self.backgrounds)

    def __len__(self) -> int:
        return len(self.patches)

    def _order(self, epoch: int) -> np.ndarray:
        """The pool's permutation for one epoch (kept, since a batch rarely spans two)."""
        if self._epoch[0] != epoch:
            self._epoch = (epoch, np.random.default_rng([self.cfg["seed"], epoch]).permutation(len(self.pool)))
        return self._epoch[1]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(images B×3×S×S in [0,1], heatmap targets B×J×H×W, joint weights B×J, joints B×J×2
        in input pixels) for one step."""
        n, bs = len(self.pool), self.cfg["batch_size"]
        idx = []
        for k in range(step * bs, (step + 1) * bs):
            epoch, pos = divmod(k, n)
            idx.append(int(self.pool[self._order(epoch)[pos]]))
        return self.crops(idx, [np.random.default_rng([self.cfg["seed"], step, b, 1]) for b in range(len(idx))],
                          self.cfg["augment"])

    def crops(self, idx: list[int], rngs: list[np.random.Generator], aug: dict[str, float]
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The network inputs, targets, weights and joints of samples `idx`, augmented by `aug`.

        A labelled joint that augmentation moves out of the crop gets weight 0 when
        `ignore_outside` is on (the default): the crop does not show it, so the net can neither
        see where it is nor that it is absent, and an all-zero target there only teaches it to
        doubt the joints it can see (36% of LSP wrists were trained that way before).
        """
        ims, tgs, wts, joints = [], [], [], []
        ignore_outside = self.cfg.get("ignore_outside", True)
        for i, rng in zip(idx, rngs, strict=True):
            if aug.get("empty", 0.0) and rng.random() < aug["empty"]:
                # nobody in view: every joint absent, at full weight, so that a crop its person
                # has left gets low confidences instead of a pose read into the background
                ims.append(self.empty_crop(rng, aug))
                tgs.append(np.zeros((len(self.channel_weight), self.heatmap_size, self.heatmap_size), np.float32))
                wts.append(self.channel_weight.copy())
                joints.append(np.zeros((len(self.channel_weight), 2), np.float32))
                continue
            img, pts, lab = augment(self.patches[i], self.joints[i], self.labelled[i], rng, aug, self.input_size,
                                    None if self.framing is None else self.framing[i])
            if ignore_outside:
                lab = lab & (pts >= 0).all(1) & (pts <= self.input_size - 1).all(1)
            ims.append(img)
            tgs.append(heatmap_targets(pts, lab, self.heatmap_size, self.input_size, self.cfg["sigma"]))
            wts.append(lab.astype(np.float32) * self.channel_weight)
            joints.append(pts)
        x = torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x, torch.from_numpy(np.stack(tgs)), torch.from_numpy(np.stack(wts)),
                torch.from_numpy(np.stack(joints)))


    def empty_crop(self, rng: np.random.Generator, aug: dict[str, float]) -> np.ndarray:
        """A square of a background with nobody in it (a real one when there are any, else drawn
        clutter), at any scale, with the run's colour jitter and blur."""
        from .detector import clutter  # noqa: PLC0415

        n = self.input_size
        if self.backgrounds and rng.random() < 0.7:
            part = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            h, w = part.shape[:2]
            side = int(min(h, w) * rng.uniform(0.3, 1.0))
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            img = cv2.resize(part[y:y + side, x:x + side], (n, n), interpolation=cv2.INTER_AREA)
        else:
            img = clutter(rng, n, n)
        return colour_and_blur(img, rng, aug)


def make_optimizer(net: torch.nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(net.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                               weight_decay=cfg["weight_decay"])
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    raise PosevidError(f"unknown optimizer {cfg['optimizer']!r} (sgd, adam)")


def learning_rate(cfg: dict[str, Any], step: int) -> float:
    """`schedule: steps` (the paper: divided by 10 at each of lr_steps), `cosine` (a linear
    warm-up over `warmup` steps, then half a cosine down to zero at `iterations`) or `constant`
    (the same warm-up, then `lr` to the end: the steady rate weight averaging wants)."""
    schedule = cfg.get("schedule", "steps")
    if schedule in ("cosine", "constant"):
        warm = int(cfg.get("warmup", 0))
        if step < warm:
            return cfg["lr"] * (step + 1) / warm
        if schedule == "constant":
            return cfg["lr"]
        t = (step - warm) / max(1, cfg["iterations"] - warm)
        return cfg["lr"] * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return cfg["lr"] * 0.1 ** sum(step >= s for s in cfg["lr_steps"])


def autocast(cfg: dict[str, Any], dev: torch.device) -> tuple[bool, torch.dtype]:
    """Mixed precision when `amp` is on: fp16 on CUDA; bf16 on CPUs that have it in hardware
    (twice the fp32 speed on an AMX/AVX512-BF16 core), none where it would be emulated."""
    if not cfg["amp"]:
        return False, torch.float32
    if dev.type == "cuda":
        return True, torch.float16
    return (True, torch.bfloat16) if dev.type == "cpu" and native_bf16() else (False, torch.float32)


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L2 between heatmaps, summed over pixels, averaged over labelled joints and the batch.

    Labelled joints outside the crop have an all-zero target (the net learns "not here");
    unlabelled joints (weight 0) do not contribute.
    """
    per_joint = ((pred.float() - target) ** 2).sum(dim=(2, 3))
    return (per_joint * weight).sum() / weight.sum().clamp_min(1.0)


def coordinate_loss(pred: torch.Tensor, joints: torch.Tensor, weight: torch.Tensor, size: int) -> torch.Tensor:
    """L2 between predicted and true positions (fractions of the input), labelled joints only."""
    per_joint = ((pred.float() - joints / size) ** 2).sum(-1)
    return (per_joint * weight).sum() / weight.sum().clamp_min(1.0)


def _net_for(cfg: dict[str, Any]) -> torch.nn.Module:
    """A fresh network of the run's stage and preset (with BatchNorm when the run trains with it)."""
    if cfg["stage"] == "coordinate":
        return CoordinateNet(get_preset(cfg["preset"]))
    return SpatialNetFusion(get_preset(cfg["preset"]), training_points(cfg),
                            batchnorm=bool(cfg.get("batchnorm", False)))


def _initial(cfg: dict[str, Any], device: torch.device) -> torch.nn.Module:
    """The network a run starts from: fresh, or the `init` weight file's for heatmap stages."""
    net = _net_for(cfg)
    if cfg.get("init") and isinstance(net, SpatialNetFusion):
        src, _, meta = weights.load(cfg["init"])
        if src.preset != net.preset and widens(src.preset, net.preset):
            widen(src, net, seed=cfg["seed"])  # wider: every channel copied (train/widen.py)
        elif not same_layers(src.preset, net.preset):
            raise PosevidError(f"{cfg['init']}: preset {src.preset.name} does not match {net.preset.name}"
                               " (nor is it narrower)")
        else:
            # a folded (plain) network starts a BatchNorm one with identity BatchNorm layers;
            # the heatmaps of face points a shipped network never had start untrained
            load_joints_first(net, src.state_dict())
    return net.to(device)


def load_joints_first(net: SpatialNetFusion, state: dict[str, torch.Tensor]) -> None:
    """Load a weight file's tensors into `net`; where the net has more output channels (the face
    points after the joints), the file's fill the first ones and the others keep their fresh start."""
    own = net.state_dict()
    merged = {}
    for key, value in state.items():
        mine = own.get(key)
        if mine is not None and mine.shape != value.shape and mine.shape[1:] == value.shape[1:] \
                and mine.shape[0] > value.shape[0]:
            value = torch.cat([value, mine[value.shape[0]:]])
        merged[key] = value
    net.load_state_dict(merged, strict=not net.batchnorm)


def export_checkpoint(cfg: dict[str, Any], export: Path | None = None) -> Path:
    """Write the weights of a run's latest checkpoint as a weight file (the run may still be going)."""
    ckpt_path = Path(cfg["out"]) / CHECKPOINT
    if not ckpt_path.exists():
        raise PosevidError(f"{ckpt_path}: no checkpoint to export")
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    net = _net_for(cfg)
    net.load_state_dict(ck["net"])
    return _export(cfg, net, int(ck["step"]), float(ck["elapsed"]), export, device="checkpoint")


def _export(cfg: dict[str, Any], net: torch.nn.Module, step: int, elapsed: float, export: Path | None = None,
            **extra: Any) -> Path:
    """Write a run's network as a weight file (with an untrained, uniform pooling layer for heatmap nets)."""
    export = Path(export) if export else export_path(cfg, "model.pt")
    meta = {"stage": cfg["stage"], "iterations": step, "train_seconds": round(elapsed), **extra}
    if isinstance(net, SpatialNetFusion) and (net.batchnorm or net.num_outputs > NUM_JOINTS):
        net = fold_batchnorm(net.cpu().eval())  # and the face points' heatmaps left out
    weights.save(export, net, None if cfg["stage"] == "coordinate" else TemporalPool(cfg["window"]), meta,
                 half=bool(cfg.get("export_half", False)))
    return export


@torch.no_grad()
def validation_scores(net: torch.nn.Module, val: TrainingData, dev: torch.device, amp: bool = False,
                      amp_dtype: torch.dtype = torch.float32, batch: int = 32) -> dict[str, float]:
    """Fusion-heatmap loss and PCK per joint type (% within VALIDATION_ALPHA body scales) on the
    un-augmented crop-rule boxes of held-out samples. Leaves the network in training mode."""
    net.eval()
    size = net.preset.input_size
    radius = VALIDATION_ALPHA * size / BOX_SIDE  # every crop is BOX_SIDE body scales wide
    hits = np.zeros(len(JOINT_TYPES))
    counts = np.zeros(len(JOINT_TYPES))
    loss_sum, loss_n = 0.0, 0
    for start in range(0, len(val), batch):
        idx = list(range(start, min(len(val), start + batch)))
        x, target, w, joints = val.crops(idx, [np.random.default_rng(0)] * len(idx), NO_AUGMENT)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            fused = net(x.to(dev))[1].float().cpu()
        loss_sum += float(heatmap_loss(fused, target, w)) * len(idx)
        loss_n += len(idx)
        for b in range(len(idx)):
            pts, _ = peaks(fused[b], size)
            ok = np.linalg.norm(pts - joints[b].numpy(), axis=1) <= radius
            for t, members in enumerate(JOINT_TYPES.values()):
                m = [j for j in members if w[b, j] > 0]
                hits[t] += ok[m].sum()
                counts[t] += len(m)
    net.train()
    pck = 100.0 * hits / np.maximum(counts, 1)
    return {"loss": loss_sum / max(1, loss_n), **dict(zip(JOINT_TYPES, pck.tolist(), strict=True)),
            "mean": float(pck.mean())}


def pck_text(row: dict[str, float]) -> str:
    """A validation row's PCK per joint type as the progress line shows it."""
    return ", ".join(f"{k} {v:.1f}" for k, v in row.items())


class RunLogs:
    """A run's curves as it goes: loss.csv every few steps and validation.csv at each validation,
    started with their headers, appended to when the run resumes, flushed at every row."""

    def __init__(self, out: Path, resume: bool, loss_header: list[str], validation_header: list[str] | None):
        mode = "a" if resume and (out / LOG).exists() else "w"
        self._files = [open(out / LOG, mode, newline="")]
        if validation_header is not None:
            self._files.append(open(out / VALIDATION_LOG, mode, newline=""))
        if mode == "w":
            for f, header in zip(self._files, (loss_header, validation_header), strict=False):
                csv.writer(f).writerow(header)

    def loss(self, row: list[Any]) -> None:
        self._write(0, row)

    def validation(self, row: list[Any]) -> None:
        self._write(1, row)

    def _write(self, k: int, row: list[Any]) -> None:
        csv.writer(self._files[k]).writerow(row)
        self._files[k].flush()

    def close(self) -> None:
        for f in self._files:
            f.close()


def resume_from(ckpt_path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, dev: torch.device,
                resume: bool, averager: WeightAverage | None = None) -> tuple[int, float]:
    """Load a run's checkpoint into net, optimizer (and the run's weight average) when resuming;
    (step, elapsed seconds)."""
    if not resume:
        return 0, 0.0
    if not ckpt_path.exists():
        raise PosevidError(f"{ckpt_path}: no checkpoint to resume from")
    ck = torch.load(ckpt_path, map_location=dev, weights_only=True)
    net.load_state_dict(ck["net"])
    opt.load_state_dict(ck["opt"])
    if averager is not None:
        if "average" not in ck:
            raise PosevidError(f"{ckpt_path}: the run was started without average_from; resume it the same way")
        averager.load_state_dict(ck["average"])
    return int(ck["step"]), float(ck["elapsed"])


def save_checkpoint(ckpt_path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                    elapsed: float, averager: WeightAverage | None = None) -> None:
    state = {"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}
    if averager is not None:
        state["average"] = averager.state_dict()
    with replacing(ckpt_path) as tmp:
        torch.save(state, tmp)


@contextmanager
def stop_on_signal() -> Iterator[dict[str, bool]]:
    """Ctrl-C and SIGTERM set stop["now"] instead of killing the run, so that the loop ends its
    step, saves its checkpoint and exports; the old handlers come back at the end."""
    stop = {"now": False}

    def on_signal(signum, frame):  # noqa: ANN001
        stop["now"] = True

    old = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])


def export_path(cfg: dict[str, Any], name: str) -> Path:
    """Where a run writes its weights: train.export, else OUT/`name` (each stage's own file name)."""
    return Path(cfg.get("export") or Path(cfg["out"]) / name)


def finish_run(out: Path, step: int, export: Path, stopped: bool) -> Path:
    """Draw the run's curves (when matplotlib is there) and say how to go on if it was stopped."""
    try:
        from .plot_curves import plot_curves  # noqa: PLC0415

        plot_curves(out, out / "curves.png")
    except ImportError:  # matplotlib is an optional extra; the CSV curves are always written
        pass
    if stopped:
        raise Interrupted(f"interrupted at step {step}: checkpoint saved in {out} and weights exported to {export}; "
                          "add --resume to the same command to continue")
    return export


def run_steps(cfg: dict[str, Any], net: torch.nn.Module, opt: torch.optim.Optimizer, ckpt_path: Path, logs: RunLogs,
              step: int, elapsed: float, total: int,
              losses: Callable[[int], tuple[torch.Tensor, list[torch.Tensor], int]],
              validate: Callable[[int, float], str] | None = None, scaler: torch.amp.GradScaler | None = None,
              progress: bool = True, budget: TimeBudget | None = None,
              averager: WeightAverage | None = None) -> tuple[int, float, bool]:
    """The loop every training stage shares, from `step` to `total`: the learning rate of each step,
    backward through `scaler` (mixed precision on CUDA), a loss row every log_every steps, the
    progress bar, `validate` every validate_every steps (it writes its row and returns the line to
    show), a checkpoint every checkpoint_minutes and at the end. Ctrl-C or SIGTERM ends it after
    the current step. `losses(step)` runs the forward pass: (loss, its parts for the log, batch
    size). With a `budget` (train.minutes), the probe fixes `total` (and cfg["iterations"], where
    the schedule ends) and the run ends at the budget whatever the step. An `averager` takes the
    weights after each step it averages (train.average_from) and travels in the checkpoint.
    Returns (step, elapsed seconds, whether it was stopped)."""
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
    bar = tqdm(total=total, initial=step, disable=not progress, unit="it", dynamic_ncols=True)
    last_ckpt = time.time()
    with stop_on_signal() as stop:
        try:
            net.train()
            while step < total and not stop["now"]:
                t0 = time.time()
                for g in opt.param_groups:
                    g["lr"] = learning_rate(cfg, step)
                loss, parts, size = losses(step)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                step += 1
                if averager is not None:
                    averager.update(net, step)
                dt = time.time() - t0
                elapsed += dt
                if budget is not None:
                    planned = budget.plan(step)
                    if planned is not None and planned < total:
                        total = cfg["iterations"] = planned
                        bar.total = total
                    if budget.over():
                        total = step
                if step % cfg["log_every"] == 0 or step == total:
                    logs.loss([step, f"{loss.item():.5f}", *(f"{p.item():.5f}" for p in parts),
                               f"{learning_rate(cfg, step - 1):.2e}", f"{size / dt:.1f}", f"{elapsed:.0f}"])
                bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{size / dt:.1f}")
                bar.update(1)
                if validate is not None and (step % cfg["validate_every"] == 0 or step == total):
                    bar.write(validate(step, elapsed))
                if time.time() - last_ckpt > 60 * cfg["checkpoint_minutes"]:
                    save_checkpoint(ckpt_path, net, opt, step, elapsed, averager)
                    last_ckpt = time.time()
        finally:
            bar.close()
            save_checkpoint(ckpt_path, net, opt, step, elapsed, averager)
            logs.close()
    return step, elapsed, stop["now"]


def train(cfg: dict[str, Any], resume: bool = False, device: str = "auto", progress: bool = True,
          max_steps: int | None = None) -> Path:
    """Run (or resume) a spatial/fusion training run; returns the exported weight file."""
    dev = pick_device(device)
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    net = _initial(cfg, dev)
    opt = make_optimizer(net, cfg)
    ckpt_path = out / CHECKPOINT
    averager = (WeightAverage(net, cfg["average_from"], cfg["average_every"])
                if cfg.get("average_from") is not None else None)
    step, elapsed = resume_from(ckpt_path, net, opt, dev, resume, averager)
    use_fusion = cfg["stage"] == "fusion"
    coordinate = cfg["stage"] == "coordinate"
    data = TrainingData(cfg, net.preset.input_size, net.preset.heatmap_size)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input size throughout: let cuDNN pick its kernels
    if cfg.get("init") and getattr(net, "batchnorm", False) and step == 0:
        # BatchNorm on trained weights: set to pass the trained function on (nets.calibrate_batchnorm)
        calibrate_batchnorm(net, torch.cat([data.batch(k)[0] for k in range(4)]).to(dev))
    held_out = cfg.get("validation") or (cfg.get("packed") and packed_file(cfg, "validation").exists())
    val = (TrainingData(cfg, net.preset.input_size, net.preset.heatmap_size, sources="validation")
           if held_out and not coordinate else None)
    amp, amp_dtype = autocast(cfg, dev)
    nnpack_where_fp32(net, dev, amp_dtype)  # fp32 on the CPU: the large kernels through NNPACK
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

    logs = RunLogs(out, resume, ["step", "loss", "spatial", "fusion", "lr", "images_per_s", "elapsed_s"],
                   ["step", "loss", *JOINT_TYPES, "mean", "elapsed_s"] if val is not None else None)

    def validate(step: int, elapsed: float) -> str:
        row = validation_scores(net, val, dev, amp, amp_dtype)
        logs.validation([step, f"{row.pop('loss'):.5f}", *(f"{row[k]:.1f}" for k in (*JOINT_TYPES, "mean")),
                         f"{elapsed:.0f}"])
        return f"step {step}: validation PCK {pck_text(row)}"

    stream = batch_stream(data.batch, step, cfg["workers"], pin=dev.type == "cuda")
    distill = cfg["distill"]
    ensemble = (EnsembleTargets(distill["models"], distill["weight"], dev,
                                 amp_dtype if amp else torch.float32)
                if distill["models"] and not coordinate else None)

    def losses(step: int) -> tuple[torch.Tensor, list[torch.Tensor], int]:
        x, target, w, joints = (t.to(dev, non_blocking=True) for t in next(stream))
        if ensemble is not None:
            target = ensemble.mixed(x, target)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
            pred = net(x)
        if coordinate:
            ls = coordinate_loss(pred, joints, w, net.preset.input_size)
            lf = torch.zeros((), device=dev)
        else:
            ls = heatmap_loss(pred[0], target, w)
            lf = heatmap_loss(pred[1], target, w) if use_fusion else torch.zeros((), device=dev)
        return ls + lf, [ls, lf], len(x)

    total = cfg["iterations"] if max_steps is None else min(cfg["iterations"], step + max_steps)
    budget = TimeBudget(cfg["minutes"], step) if cfg.get("minutes") else None
    try:
        step, elapsed, stopped = run_steps(cfg, net, opt, ckpt_path, logs, step, elapsed, total, losses,
                                           validate if val is not None else None, scaler, progress, budget,
                                           averager)
    finally:
        stream.close()  # ends the batch workers now, not whenever the interpreter gets to them
    final, extra = net, {}
    if averager is not None and averager.count:
        # the exported network is the mean, its BatchNorm statistics measured on the run's own
        # crops (the steps after its last: augmented as training draws them, not seen by it)
        final = averager.network(data.batch(step + k)[0] for k in range(AVERAGE_BN_BATCHES))
        extra = {"average": {"from": averager.start, "every": averager.every, "count": averager.count}}
        if val is not None:
            row = validation_scores(final, val, dev, amp, amp_dtype)
            extra["average"]["validation"] = {k: round(v, 4 if k == "loss" else 1) for k, v in row.items()}
            tqdm.write(f"mean of {averager.count} steps' weights: validation PCK "
                       f"{pck_text({k: v for k, v in row.items() if k != 'loss'})}")
    export = _export(cfg, final.cpu(), step, elapsed, device=str(dev), samples=len(data), **extra)
    return finish_run(out, step, export, stopped)
