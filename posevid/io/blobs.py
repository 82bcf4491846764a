"""Weight files of the small networks (the person detector, the box refiner): one torch file
holding a magic string that says what it is, the training facts as JSON, and the state dict;
written atomically, and read back with torch's safe loader, every failure one ModelError line."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError
from .atomic import replacing


def write_weights(path: str | Path, magic: str, net: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Write a network's weights and its facts under `magic`, atomically."""
    blob = {"magic": magic, "meta": json.dumps(meta),
            "net": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    with replacing(path) as tmp:
        torch.save(blob, tmp)


def read_weights(path: Path, magic: str, what: str,
                 build: Callable[[dict[str, Any]], torch.nn.Module]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network `build(meta)` makes, with the weights of a file written under `magic`, in eval
    mode, and its facts; a missing, empty, cut or foreign file is a ModelError naming it (`what`
    says what it should have been)."""
    if not path.is_file():
        raise ModelError(f"{path}: {what} weights not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("magic") != magic:
            raise ValueError
        meta = json.loads(blob["meta"])
        net = build(meta)
        net.load_state_dict(blob["net"])
    except Exception:  # noqa: BLE001 - an empty, cut or foreign file fails in many ways
        raise ModelError(f"not a posevid {what} file: {path}") from None
    return net.eval(), meta
