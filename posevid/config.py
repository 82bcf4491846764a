"""Configuration: the packaged defaults.yaml, overridden by a user's YAML, then by flags.

Keeping every default in one YAML file means the CLI, the library API and the config
written into each output JSON can never disagree about what a default is.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import choices
from .errors import ConfigError
from .network.presets import PRESETS


def defaults() -> dict[str, Any]:
    """A fresh copy of the packaged defaults."""
    text = resources.files("posevid").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `override` into a copy of `base`; unknown keys are an error."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in out:
            raise ConfigError(f"unknown config key {key!r} (known: {', '.join(sorted(out))})")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on a copy of `base`: mappings merge key by key, anything else (lists included)
    replaces. No key check here: section() checks the result against defaults.yaml."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _overlay(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def load_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as a mapping, with `extends: OTHER.yaml` resolved.

    Training runs are chains of legs that differ from their base in a few numbers; without
    `extends` every leg repeated the base's 45-entry data lists, and a list fixed in one copy
    stayed wrong in the others. The path is relative to the extending file's folder; the base
    may extend another in turn (a loop is an error)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a config must be a mapping of settings")
    parent = doc.pop("extends", None)
    if parent is None:
        return doc
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: {parent!r} is not the path of another config file")
    base_path = (path.parent / parent).resolve()
    if base_path in _seen or base_path == path.resolve():
        raise ConfigError(f"{path}: extends {parent} which extends it again (a loop)")
    return _overlay(load_yaml(base_path, (*_seen, path.resolve())), doc)


def section(name: str, path: str | Path | None = None, **flags: Any) -> dict[str, Any]:
    """The settings of one section (annotate, train): defaults < YAML file < flags that are not None.

    A config file may hold the section's keys at top level or under the section name.
    """
    cfg = defaults()[name]
    if path is not None:
        doc = load_yaml(path)
        cfg = merge(cfg, doc.get(name, doc) if isinstance(doc.get(name), dict) else doc)
    return merge(cfg, {k: v for k, v in flags.items() if v is not None})


def validate_annotate(s: dict[str, Any]) -> None:
    """Check every annotate setting once, where it enters (a YAML file or flags), so that a bad
    value fails at once with one line and exit 2 instead of late, deep in a run."""
    closed = {"preset": tuple(PRESETS), "flow": choices.FLOW_METHODS, "pool": choices.POOL_METHODS,
              "precision": choices.PRECISIONS, "roi": choices.ROI_MODES, "deinterlace": choices.DEINTERLACE,
              "heatmap": choices.HEATMAPS}
    for key, allowed in closed.items():
        if s[key] not in allowed:
            raise ConfigError(f"{key}: {s[key]!r} is not one of {', '.join(allowed)}")
    if not choices.valid_person(s["person"]):
        raise ConfigError(f"person: {s['person']!r} is not {', '.join(choices.PERSON_RULES)} or a number")

    def number(key: str, lo: float, hi: float = float("inf"), integer: bool = False, none: bool = False) -> None:
        v = s[key]
        if v is None and none:
            return
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not lo <= v <= hi:
            kind = "a whole number" if integer else "a number"
            raise ConfigError(f"{key}: {v!r} is not {kind} from {lo:g} to {hi:g}")

    number("threshold", 0.0, 1.0)
    number("batch_size", 1, 1024, integer=True)
    number("flow_size", 16, 1024, integer=True)
    number("window", 0, 100, integer=True, none=True)
    number("cut_threshold", 0.0, 1.0)
    number("max_gap", 0.0)
    number("crf", 0, 51, integer=True)
    number("resume_every", 0, integer=True)
    for key in ("video", "csv", "show_box", "flip"):
        if not isinstance(s[key], bool):
            raise ConfigError(f"{key}: {s[key]!r} is not true or false")
    box = s["box"]
    if box is not None:
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
                or box[2] <= 0 or box[3] <= 0):
            raise ConfigError(f"box: {box!r} is not [x, y, w, h] with positive width and height")


@dataclass(frozen=True)
class AnnotateSettings:
    """The `annotate` settings, typed and validated once where they enter (defaults.yaml < a
    YAML file < flags or keywords: annotate_settings). Frozen: a run cannot change them under
    its threads; `replace` gives a checked copy with some changed. Field order is defaults.yaml's,
    which documents each one."""

    model: str | None
    preset: str
    device: str
    batch_size: int
    precision: str
    flow: str
    flow_size: int
    window: int | None
    pool: str
    threshold: float
    box: tuple[float, float, float, float] | None
    roi: str
    person: str
    detector: str | None
    show_box: bool
    deinterlace: str
    cut_threshold: float
    max_gap: float
    video: bool
    csv: bool
    crf: int
    encoder_preset: str
    resume_every: int
    heatmap: str
    flip: bool

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> AnnotateSettings:
        """Check a complete mapping of annotate settings (validate_annotate) and type it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        validate_annotate(values)
        v = dict(values)
        v["box"] = None if v["box"] is None else tuple(float(x) for x in v["box"])
        v["person"] = str(v["person"])
        v["threshold"], v["cut_threshold"], v["max_gap"] = (float(v[k]) for k in ("threshold", "cut_threshold",
                                                                                  "max_gap"))
        v["model"] = None if v["model"] is None else str(v["model"])
        v["detector"] = None if v["detector"] is None else str(v["detector"])
        return cls(**v)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the box a list), as written into every output JSON."""
        d = dataclasses.asdict(self)
        d["box"] = None if self.box is None else list(self.box)
        return d

    def fingerprint(self, ignore: tuple[str, ...] = ()) -> str:
        """A short hash of the settings (less `ignore`), to tell whether earlier work was done with the same ones."""
        kept = {k: v for k, v in self.to_dict().items() if k not in ignore}
        return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def replace(self, **changes: Any) -> AnnotateSettings:
        """A checked copy with some settings changed."""
        return AnnotateSettings.from_mapping({**self.to_dict(), **changes})


def annotate_settings(config_file: str | Path | None = None, **flags: Any) -> AnnotateSettings:
    """The annotate settings: packaged defaults, then a YAML file, then flags that are not None."""
    return AnnotateSettings.from_mapping(section("annotate", config_file, **flags))
