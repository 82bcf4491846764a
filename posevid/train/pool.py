"""Stage 3 of the paper: learn the parametric pooling layer on consecutive video frames.

The trained SpatialNet Fusion runs over labelled videos; the heatmaps of frames t−n…t+n
are warped onto frame t along flow tracks exactly as at inference (the same pipeline
code), and only the t×k pooling weights are fitted, by L2 against the Gaussian target of
frame t's label. The result is the fusion network's file with the learned layer added.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..config import annotate_settings
from ..errors import PosevidError
from ..io.video import VideoReader
from ..network import weights
from ..network.heatmaps import targets
from ..network.nets import TemporalPool, weighted_pool
from ..pipeline import Annotator
from .datasets import iterate_sources, label_regions, videos_of
from .pose import export_path


def collect_stacks(model: Path, cfg: dict[str, Any], progress: bool) -> tuple[torch.Tensor, ...]:
    """Warped windows, presence masks, targets and joint weights for every labelled frame."""
    videos = videos_of(iterate_sources(cfg["data"], Path(cfg.get("base", "."))))
    if not videos:
        raise PosevidError("stage pooling needs labelled videos (posevid JSON of videos) in train.data")
    ann = Annotator(annotate_settings(model=str(model), flow=cfg["flow"], window=cfg["window"], pool="sum"))
    stacks, present, tgts, wts = [], [], [], []
    size, hsize = ann.input_size, ann.heatmap_size
    every = max(1, int(cfg.get("frame_stride", 1)))
    for path, labels in tqdm(videos.items(), disable=not progress, desc="warping", unit="video"):
        with VideoReader(path) as reader:
            for result in ann.run(reader, regions=label_regions(labels), keep_stacks=True):
                s = labels.get(result.frame.index)
                if s is None or result.box is None or result.stack is None or result.frame.index % every:
                    continue
                roi = result.box
                pts = (s.joints - [roi.x, roi.y]) * (size / roi.side)
                stacks.append(result.stack)
                present.append(result.present)
                tgts.append(torch.from_numpy(targets(pts, s.labelled, hsize, size, cfg["sigma"])))
                wts.append(torch.from_numpy(s.labelled.astype(np.float32)))
    if not stacks:
        raise PosevidError("no labelled frames could be warped for pooling training")
    return torch.stack(stacks), torch.stack(present), torch.stack(tgts), torch.stack(wts)


def fit_pool(stacks: torch.Tensor, present: torch.Tensor, tgts: torch.Tensor, wts: torch.Tensor, window: int,
             iterations: int, lr: float, seed: int = 0, log: Path | None = None) -> TemporalPool:
    """Fit the t×k pooling weights by full-batch Adam on the L2 heatmap loss."""
    torch.manual_seed(seed)
    layer = TemporalPool(window)
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    rows = []
    stacks = stacks.float()  # once, not per step: the stack is the bulk of the work
    for step in range(iterations):
        pooled = weighted_pool(stacks, layer.weight, present)
        per_joint = ((pooled - tgts) ** 2).sum(dim=(2, 3))
        loss = (per_joint * wts).sum() / wts.sum().clamp_min(1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rows.append((step + 1, loss.item()))
    if log is not None:
        with open(log, "w", newline="") as f:
            csv.writer(f).writerows([("step", "loss"), *rows])
    return layer


def train_pooling(cfg: dict[str, Any], device: str = "auto", progress: bool = True) -> Path:
    """Run stage 3 and write the fusion network plus the learned pooling layer to the export path."""
    if not cfg.get("init"):
        raise PosevidError("stage pooling needs train.init: the trained SpatialNet Fusion weight file")
    start = time.time()
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    stacks, present, tgts, wts = collect_stacks(Path(cfg["init"]), cfg, progress)
    layer = fit_pool(stacks, present, tgts, wts, cfg["window"], cfg["iterations"], cfg["lr"], cfg["seed"],
                     out / "pool_loss.csv")
    net, _, meta = weights.load(cfg["init"])
    meta = {k: v for k, v in meta.items() if k not in ("preset", "joints", "window")}
    meta.update({"pooling": {"frames": int(len(stacks)), "window": cfg["window"], "flow": cfg["flow"],
                             "iterations": cfg["iterations"], "seconds": round(time.time() - start)}})
    export = export_path(cfg, "model.pt")
    weights.save(export, net, layer, meta, half=bool(cfg.get("export_half", False)))
    return export
