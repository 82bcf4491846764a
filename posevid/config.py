"""Configuration: the packaged defaults.yaml, overridden by a user's YAML, then by flags.

Keeping every default in one YAML file means the CLI, the library API and the config
written into each output JSON can never disagree about what a default is.
"""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import PosevidError


def defaults() -> dict[str, Any]:
    """A fresh copy of the packaged defaults."""
    text = resources.files("posevid").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `override` into a copy of `base`; unknown keys are an error."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in out:
            raise PosevidError(f"unknown config key {key!r} (known: {', '.join(sorted(out))})")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PosevidError(f"{path}: no such config file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PosevidError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PosevidError(f"{path}: a config must be a mapping of settings")
    return doc


def section(name: str, path: str | Path | None = None, **flags: Any) -> dict[str, Any]:
    """The settings of one section (annotate, train): defaults < YAML file < flags that are not None.

    A config file may hold the section's keys at top level or under the section name.
    """
    cfg = defaults()[name]
    if path is not None:
        doc = load_yaml(path)
        cfg = merge(cfg, doc.get(name, doc) if isinstance(doc.get(name), dict) else doc)
    return merge(cfg, {k: v for k, v in flags.items() if v is not None})


def fingerprint(settings: dict[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """A short hash of settings, to tell whether earlier work was done with the same ones."""
    kept = {k: v for k, v in settings.items() if k not in ignore}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]
