"""Weight files: one file per model, with its preset, joints and pooling window beside the tensors.

Saved with torch.save and loaded with torch.load(weights_only=True), which refuses
arbitrary pickled objects, so a downloaded weight file cannot run code.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError
from ..io.atomic import replacing
from ..joints import JOINTS
from .nets import CoordinateNet, SpatialNetFusion, TemporalPool
from .presets import Preset

MAGIC = "posevid-weights"


def save(path: str | Path, net: SpatialNetFusion | CoordinateNet, pool: TemporalPool | None,
         meta: dict[str, Any], half: bool = False) -> None:
    """Write a weight file atomically (temporary name, then rename). `half` stores the network's
    tensors in fp16, half the bytes (the paper preset's 70 MB become 35); load casts them back."""
    path = Path(path)
    arch = "coordinate" if isinstance(net, CoordinateNet) else "spatialnet-fusion"
    info = {**meta, "arch": arch, "preset": net.preset.to_dict(), "joints": list(JOINTS),
            "window": pool.window if pool is not None else None}
    blob = {"magic": MAGIC, "meta": json.dumps(info),
            "net": {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
                    for k, v in net.state_dict().items()},
            "pool": pool.weight.detach().cpu() if pool is not None else torch.zeros(0)}
    with replacing(path) as tmp:
        torch.save(blob, tmp)


def load(path: str | Path, device: str | torch.device = "cpu") -> tuple[SpatialNetFusion, TemporalPool | None, dict]:
    """Load a weight file into a fresh network; every failure is a ModelError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises many types for an empty, cut or foreign file
        # torch's own text (about weights_only) would invite turning a safety off: not quoted
        raise ModelError(f"not a posevid weight file: {path}") from None
    if not isinstance(blob, dict) or blob.get("magic") != MAGIC:
        raise ModelError(f"not a posevid weight file: {path}")
    try:
        meta = json.loads(blob["meta"])
        p = meta["preset"]
        preset = Preset(name=p["name"], spatial=tuple(p["spatial"]), fusion=tuple(p["fusion"]),
                        input_size=p["input_size"], heatmap_size=p["heatmap_size"])
        if meta["joints"] != list(JOINTS):
            raise ModelError(f"{path}: trained for joints {meta['joints']}, not {list(JOINTS)}")
        net = (CoordinateNet if meta.get("arch") == "coordinate" else SpatialNetFusion)(preset)
        net.load_state_dict(blob["net"])
        pool = None
        if meta.get("window") is not None:
            pool = TemporalPool(int(meta["window"]))
            pool.weight.data.copy_(blob["pool"])
    except ModelError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise ModelError(f"{path}: weights do not fit the architecture ({str(e).splitlines()[0][:120]})") from None
    net.eval().to(device)
    if pool is not None:
        pool.eval().to(device)
    return net, pool, meta


def shipped_model(preset: str) -> Path:
    """The weight file shipped for a preset inside the installed package."""
    path = Path(str(resources.files("posevid.models").joinpath(f"posevid-{preset}.pt")))
    if not path.is_file():
        raise ModelError(f"{path}: no shipped model for preset {preset!r}; give one with --model")
    return path
