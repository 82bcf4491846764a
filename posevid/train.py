"""The training loop for SpatialNet and SpatialNet Fusion (the paper's stages 1 and 2).

Resumable exactly: the checkpoint holds the network, optimizer, iteration and seed, and
the data order and augmentation of every step are a pure function of (seed, step), so a
resumed run draws the same batches a straight run would have. Checkpoints are written
every few minutes and on Ctrl-C; losses go to a CSV log beside them.
"""
from __future__ import annotations

import csv
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from . import weights
from .datasets import augment, iterate_sources, load_pixels
from .errors import PosevidError
from .heatmaps import targets as heatmap_targets
from .nets import CoordinateNet, SpatialNetFusion, TemporalPool
from .presets import get_preset

CHECKPOINT = "checkpoint.pt"
LOG = "loss.csv"


class TrainingData:
    """Cached patches of all samples, and the deterministic batch for any step."""

    def __init__(self, cfg: dict[str, Any], input_size: int, heatmap_size: int):
        base = Path(cfg.get("base", "."))
        samples = iterate_sources(cfg["data"], base)
        if not samples:
            raise PosevidError("the training config names no labelled samples (train.data)")
        self.patches, self.joints, kept = load_pixels(samples, cfg["patch"])
        if not kept:
            raise PosevidError("none of the labelled samples could be read")
        self.labelled = np.stack([s.labelled for s in kept])
        # Each epoch is a permutation of this pool, where a source with repeat k appears k times.
        self.pool = np.repeat(np.arange(len(kept)), [s.repeat for s in kept])
        self.cfg, self.input_size, self.heatmap_size = cfg, input_size, heatmap_size

    def __len__(self) -> int:
        return len(self.patches)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(images B×3×S×S in [0,1], heatmap targets B×J×H×W, joint weights B×J, joints B×J×2
        in input pixels) for one step."""
        n, bs, seed = len(self.pool), self.cfg["batch_size"], self.cfg["seed"]
        idx = []
        for k in range(step * bs, (step + 1) * bs):
            epoch, pos = divmod(k, n)
            idx.append(int(self.pool[np.random.default_rng([seed, epoch]).permutation(n)[pos]]))
        ims, tgs, wts, joints = [], [], [], []
        for b, i in enumerate(idx):
            rng = np.random.default_rng([seed, step, b, 1])
            img, pts, lab = augment(self.patches[i], self.joints[i], self.labelled[i], rng,
                                    self.cfg["augment"], self.input_size)
            ims.append(img)
            tgs.append(heatmap_targets(pts, lab, self.heatmap_size, self.input_size, self.cfg["sigma"]))
            wts.append(lab.astype(np.float32))
            joints.append(pts)
        x = torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x, torch.from_numpy(np.stack(tgs)), torch.from_numpy(np.stack(wts)),
                torch.from_numpy(np.stack(joints)))


def make_optimizer(net: torch.nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(net.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                               weight_decay=cfg["weight_decay"])
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    raise PosevidError(f"unknown optimizer {cfg['optimizer']!r} (sgd, adam)")


def learning_rate(cfg: dict[str, Any], step: int) -> float:
    return cfg["lr"] * 0.1 ** sum(step >= s for s in cfg["lr_steps"])


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


def _initial(cfg: dict[str, Any], device: torch.device) -> torch.nn.Module:
    preset = get_preset(cfg["preset"])
    if cfg["stage"] == "coordinate":
        return CoordinateNet(preset).to(device)
    net = SpatialNetFusion(preset)
    if cfg.get("init"):
        src, _, meta = weights.load(cfg["init"])
        if src.preset != preset:
            raise PosevidError(f"{cfg['init']}: preset {src.preset.name} does not match {preset.name}")
        net.load_state_dict(src.state_dict())
    return net.to(device)


def export_checkpoint(cfg: dict[str, Any], export: Path | None = None) -> Path:
    """Write the weights of a run's latest checkpoint as a weight file (the run may still be going)."""
    ckpt_path = Path(cfg["out"]) / CHECKPOINT
    if not ckpt_path.exists():
        raise PosevidError(f"{ckpt_path}: no checkpoint to export")
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    net = (CoordinateNet if cfg["stage"] == "coordinate" else SpatialNetFusion)(get_preset(cfg["preset"]))
    net.load_state_dict(ck["net"])
    return _export(cfg, net, int(ck["step"]), float(ck["elapsed"]), export, device="checkpoint")


def _export(cfg: dict[str, Any], net: torch.nn.Module, step: int, elapsed: float, export: Path | None = None,
            **extra: Any) -> Path:
    """Write a run's network as a weight file (with an untrained, uniform pooling layer for heatmap nets)."""
    export = Path(export or cfg.get("export") or Path(cfg["out"]) / "model.pt")
    meta = {"stage": cfg["stage"], "iterations": step, "train_seconds": round(elapsed), **extra}
    weights.save(export, net, None if cfg["stage"] == "coordinate" else TemporalPool(cfg["window"]), meta)
    return export


def train(cfg: dict[str, Any], resume: bool = False, device: str = "auto", progress: bool = True,
          max_steps: int | None = None) -> Path:
    """Run (or resume) a spatial/fusion training run; returns the exported weight file."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    net = _initial(cfg, dev)
    opt = make_optimizer(net, cfg)
    step, elapsed = 0, 0.0
    ckpt_path = out / CHECKPOINT
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=True)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = int(ck["step"]), float(ck["elapsed"])
    elif resume:
        raise PosevidError(f"{ckpt_path}: no checkpoint to resume from")
    data = TrainingData(cfg, net.preset.input_size, net.preset.heatmap_size)
    amp = bool(cfg["amp"]) and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_name(CHECKPOINT + ".part")
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, tmp)
        tmp.replace(ckpt_path)

    stop = {"now": False}

    def on_signal(signum, frame):  # noqa: ANN001
        stop["now"] = True

    old = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
    log_new = not (out / LOG).exists() or not resume
    log = open(out / LOG, "w" if log_new else "a", newline="")
    writer = csv.writer(log)
    if log_new:
        writer.writerow(["step", "loss", "spatial", "fusion", "lr", "images_per_s", "elapsed_s"])
    total = cfg["iterations"] if max_steps is None else min(cfg["iterations"], step + max_steps)
    bar = tqdm(total=total, initial=step, disable=not progress, unit="it", dynamic_ncols=True)
    last_ckpt = time.time()
    use_fusion = cfg["stage"] == "fusion"
    coordinate = cfg["stage"] == "coordinate"
    try:
        net.train()
        while step < total and not stop["now"]:
            t0 = time.time()
            for g in opt.param_groups:
                g["lr"] = learning_rate(cfg, step)
            x, target, w, joints = (t.to(dev, non_blocking=True) for t in data.batch(step))
            with torch.autocast(dev.type, enabled=amp):
                pred = net(x)
            if coordinate:
                ls = coordinate_loss(pred, joints, w, net.preset.input_size)
                lf = torch.zeros((), device=dev)
            else:
                ls = heatmap_loss(pred[0], target, w)
                lf = heatmap_loss(pred[1], target, w) if use_fusion else torch.zeros((), device=dev)
            loss = ls + lf
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
            dt = time.time() - t0
            elapsed += dt
            if step % cfg["log_every"] == 0 or step == total:
                writer.writerow([step, f"{loss.item():.5f}", f"{ls.item():.5f}", f"{lf.item():.5f}",
                                 f"{learning_rate(cfg, step - 1):.2e}", f"{len(x) / dt:.1f}", f"{elapsed:.0f}"])
                log.flush()
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{len(x) / dt:.1f}")
            bar.update(1)
            if time.time() - last_ckpt > 60 * cfg["checkpoint_minutes"]:
                save_checkpoint()
                last_ckpt = time.time()
    finally:
        bar.close()
        save_checkpoint()
        log.close()
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
    export = _export(cfg, net.cpu(), step, elapsed, device=str(dev), samples=len(data))
    if stop["now"]:
        raise KeyboardInterrupt
    return export
