"""`posevid eval`: the paper's metric over labelled images and videos, for several settings at once.

Accuracy is the percentage of joints within d pixels of the ground truth, d = 0…20, at
the network input's scale (128 pixels for q128, 256 for the paper preset; the region of
interest is the labelled upper-body box, so the numbers measure pose, not person finding),
per joint type with left and right averaged (the paper's figures 7, 8, 10). Image sets
also get PCK normalised by torso size where the format has hips. Results: a CSV table, a PNG plot and a JSON summary.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..config import annotate_settings
from ..io.video import VideoReader
from ..joints import JOINT_TYPES, NUM_JOINTS
from ..network import weights
from ..network.heatmaps import peaks
from ..network.weights import shipped_model
from ..person.roi import crop, from_joints
from ..pipeline import Annotator
from ..result import PoseResult
from . import figures
from .datasets import Sample, iterate_sources, label_regions, videos_of


def pck_table(dists: np.ndarray, max_d: int) -> dict[str, list[float]]:
    """Per joint type, the % of labelled joints within d px for d = 0..max_d (dists N×7, NaN = unlabelled)."""
    out = {}
    for name, idx in JOINT_TYPES.items():
        d = dists[:, list(idx)].ravel()
        d = d[~np.isnan(d)]
        out[name] = [float(100.0 * (d <= t).mean()) if len(d) else float("nan") for t in range(max_d + 1)]
    return out


def torso_pck(dists_frame: np.ndarray, torso: np.ndarray, alpha: float = 0.2) -> dict[str, float]:
    """PCK@alpha·torso per joint type, distances and torso sizes in the same (frame) pixels."""
    ok = ~np.isnan(torso)
    out = {}
    for name, idx in JOINT_TYPES.items():
        d = dists_frame[ok][:, list(idx)]
        t = np.repeat(torso[ok][:, None], len(idx), 1)
        m = ~np.isnan(d)
        out[name] = float(100.0 * (d[m] <= alpha * t[m]).mean()) if m.any() else float("nan")
    return out


def _distances(pred_input: np.ndarray, sample: Sample, roi, size: int) -> np.ndarray:
    gt = (sample.joints - [roi.x, roi.y]) * (size / roi.side)
    d = np.linalg.norm(pred_input - gt, axis=1)
    return np.where(sample.labelled, d, np.nan)


def eval_images(net: torch.nn.Module, samples: list[Sample], teacher=None,  # noqa: ANN001
                baselines: dict[str, torch.nn.Module] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Distances (network-input scale and frame pixels) of SpatialNet, SpatialNet Fusion, CoordinateNet
    baselines and the teacher on images."""
    size = net.preset.input_size
    res: dict[str, dict[str, list]] = {}
    for s in samples:
        im = cv2.imread(s.source, cv2.IMREAD_COLOR)
        roi = from_joints(s.joints, s.labelled)
        if im is None or roi is None:
            continue
        rgb = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(crop(rgb, roi, size)).permute(2, 0, 1)[None].float().div(255.0)
        with torch.inference_mode():
            spatial, fused = net(x)
            preds = {"SpatialNet": peaks(spatial[0], size)[0], "SpatialNet Fusion": peaks(fused[0], size)[0]}
            for name, b in (baselines or {}).items():
                preds[name] = b(x)[0].numpy() * size
        if teacher is not None:
            found = teacher(rgb)
            tp = np.full((NUM_JOINTS, 2), 1e6, np.float32) if found is None else found[0]
            preds["MediaPipe (teacher)"] = (tp - [roi.x, roi.y]) * (size / roi.side)
        for name, p in preds.items():
            d = _distances(p, s, roi, size)
            r = res.setdefault(name, {"d": [], "frame": [], "torso": []})
            r["d"].append(d)
            r["frame"].append(d * roi.side / size)
            r["torso"].append(np.nan if s.torso is None else s.torso)
    return {k: {kk: np.array(vv, dtype=np.float64) for kk, vv in v.items()} for k, v in res.items()}


def video_settings(windows: list[int], pools: list[str], flow: str, trained: int) -> dict[str, dict[str, Any]]:
    """The named pipeline settings compared on videos (the paper's figures 7 and 8)."""
    out: dict[str, dict[str, Any]] = {
        "SpatialNet": {"flow": "none", "heatmap": "spatial"},
        "SpatialNet Fusion": {"flow": "none"},
    }
    for n in windows:
        for p in pools:
            if p == "parametric" and n > trained:
                continue
            out[f"Fusion + flow {p} n={n}"] = {"flow": flow, "pool": p, "window": n}
    return out


def frame_distances(result: PoseResult, label: Sample | None, size: int) -> np.ndarray | None:
    """Per-joint distance of a pipeline frame's joints from its label, at the network scale of
    the labelled upper-body box (so every region choice is measured alike); inf where no
    person was found, NaN for unlabelled joints, None when the frame has no usable label."""
    gt_roi = from_joints(label.joints, label.labelled) if label is not None else None
    if gt_roi is None:
        return None
    if result.joints is None:
        return np.where(label.labelled, np.inf, np.nan)
    return np.where(label.labelled, np.linalg.norm(result.joints - label.joints, axis=1) * size / gt_roi.side,
                    np.nan)


def eval_videos(model: Path, videos: dict[str, dict[int, Sample]], variants: dict[str, dict[str, Any]],
                progress: bool = False) -> dict[str, np.ndarray]:
    """Network-input-scale distances of each pipeline variant on the labelled frames of each video.

    Distances are scaled by the labelled upper-body box, whatever region the variant used,
    so variants that find the person themselves (`_regions: pipeline`) compare fairly with
    the labelled boxes; a frame where no person was found counts as a miss.
    """
    out: dict[str, list] = {}
    for name, over in variants.items():
        over = dict(over)
        own_regions = over.pop("_regions", "labels") == "pipeline"
        ann = Annotator(annotate_settings(model=str(model), **over))
        size = ann.input_size
        for path, labels in videos.items():
            with VideoReader(path) as reader:
                chooser = None if own_regions else label_regions(labels)
                for result in ann.run(reader, regions=chooser):
                    d = frame_distances(result, labels.get(result.frame.index), size)
                    if d is not None:
                        out.setdefault(name, []).append(d)
        if progress:
            print(f"  evaluated {name}", flush=True)
    return {k: np.array(v) for k, v in out.items()}


def plot(curves: dict[str, dict[str, list[float]]], path: Path, title: str) -> None:
    plt = figures.pyplot()

    fig, axes = plt.subplots(1, len(JOINT_TYPES), figsize=(4.2 * len(JOINT_TYPES), 4), sharey=True)
    for ax, jt in zip(axes, JOINT_TYPES, strict=True):
        for name, table in curves.items():
            ax.plot(range(len(table[jt])), table[jt], label=name, lw=1.5)
        ax.set_title(jt.capitalize())
        ax.set_xlabel("Distance from GT [px]")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Accuracy [%]")
    axes[0].set_ylim(0, 100)
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    figures.save(fig, path, dpi=110)


def table_rows(set_name: str, curves: dict[str, dict[str, list[float]]], max_d: int) -> list[tuple]:
    return [(set_name, k, jt, d, round(c[jt][d], 2)) for k, c in curves.items() for jt in JOINT_TYPES
            for d in range(max_d + 1)]


def run_eval(cfg: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Evaluate; write eval table (CSV), plots (PNG) and summary (JSON) into cfg["out"]."""
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    model = Path(cfg["model"]) if cfg.get("model") else shipped_model(annotate_settings().preset)
    net, pool_layer, meta = weights.load(model)
    base = Path(cfg.get("base", "."))
    max_d = int(cfg["max_distance"])
    summary: dict[str, Any] = {"model": str(model), "model_meta": meta, "sets": {}}
    rows = []
    if cfg["images"]:
        teacher = None
        if cfg["teacher"]:
            try:
                from .teacher import Teacher  # noqa: PLC0415

                teacher = Teacher(video=False)
            except Exception:  # noqa: BLE001 - the extra is optional
                teacher = None
        baselines = {}
        for path in cfg.get("baselines") or []:
            b, _, bmeta = weights.load(path)
            if bmeta.get("arch") == "coordinate":
                baselines[f"CoordinateNet ({bmeta.get('iterations')} it)"] = b
        res = eval_images(net, iterate_sources(cfg["images"], base), teacher, baselines)
        curves = {k: pck_table(v["d"], max_d) for k, v in res.items()}
        summary["sets"]["images"] = {"samples": int(len(next(iter(res.values()))["d"])) if res else 0,
                                     "curves": curves,
                                     "torso_pck@0.2": {k: torso_pck(v["frame"], v["torso"]) for k, v in res.items()}}
        plot(curves, out / "images.png", "Labelled images")
        rows += table_rows("images", curves, max_d)
    if cfg["videos"]:
        videos = videos_of(iterate_sources(cfg["videos"], base))
        trained = pool_layer.window if pool_layer is not None else 0
        variants = video_settings(cfg["windows"], cfg["pools"], cfg["flow"], trained)
        res_v = eval_videos(model, videos, variants, progress)
        curves = {k: pck_table(v, max_d) for k, v in res_v.items()}
        summary["sets"]["videos"] = {"frames": int(len(next(iter(res_v.values())))) if res_v else 0,
                                     "videos": sorted(videos), "curves": curves}
        plot(curves, out / "videos.png", "Labelled video frames")
        rows += table_rows("videos", curves, max_d)
    with open(out / "accuracy.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["set", "setting", "joint_type", "distance_px", "accuracy_pct"])
        w.writerows(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def format_table(summary: dict[str, Any], distances: tuple[int, ...] = (6, 10)) -> str:
    """The printed table: accuracy at the given distances per setting and joint type."""
    lines = []
    for set_name, data in summary["sets"].items():
        header = f"{set_name} ({data.get('samples', data.get('frames'))} labelled)"
        lines.append(header)
        cols = [f"{jt[:5]}@{d}" for d in distances for jt in JOINT_TYPES]
        lines.append(f"  {'setting':34s} " + " ".join(f"{c:>9s}" for c in cols))
        for name, c in data["curves"].items():
            vals = [c[jt][d] for d in distances for jt in JOINT_TYPES]
            lines.append(f"  {name:34s} " + " ".join(f"{v:9.1f}" for v in vals))
        if "torso_pck@0.2" in data:
            lines.append("  PCK@0.2 torso: " + "; ".join(
                f"{k}: " + ", ".join(f"{jt} {v:.1f}" for jt, v in t.items()) for k, t in data["torso_pck@0.2"].items()))
    return "\n".join(lines)
