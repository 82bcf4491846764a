"""The posevid JSON format, checked in code (documented in docs/formats.md).

A small hand-written checker rather than a JSON-Schema dependency: the format is small,
and the checker doubles as the reference for readers of the format.
"""
from __future__ import annotations

from typing import Any

from ..joints import JOINTS
from .writers import FORMAT_NAME, FORMAT_VERSION

VIDEO_FIELDS = {"path": str, "width": int, "height": int, "fps": float, "frame_count": int,
                "duration": float, "rotation": int, "has_audio": bool}
JOINT_FIELDS = ("x", "y", "confidence", "visible")
FRAME_STATUS = ("ok", "no_person")


class SchemaError(ValueError):
    pass


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise SchemaError(f"{where}: {what}")


def validate(doc: dict[str, Any]) -> None:
    """Raise SchemaError naming the first field that does not match the documented format."""
    _need(doc.get("format") == FORMAT_NAME, "format", f"must be {FORMAT_NAME!r}")
    _need(doc.get("version") == FORMAT_VERSION, "version", f"must be {FORMAT_VERSION}")
    _need(doc.get("joints") == list(JOINTS), "joints", f"must list {list(JOINTS)}")
    video = doc.get("video")
    _need(isinstance(video, dict), "video", "missing")
    for key, typ in VIDEO_FIELDS.items():
        ok = isinstance(video.get(key), (int, float) if typ is float else typ)
        _need(ok, f"video.{key}", f"must be {typ.__name__}")
    _need(isinstance(doc.get("model"), dict), "model", "missing")
    _need(isinstance(doc.get("settings"), dict), "settings", "missing")
    _need(isinstance(doc.get("cuts"), list), "cuts", "must be a list")
    for c in doc["cuts"]:
        _need(isinstance(c.get("frame"), int) and isinstance(c.get("time"), (int, float)), "cuts[]", "frame and time")
    last, last_person = -1, None
    for i, f in enumerate(doc.get("frames", [])):
        where = f"frames[{i}]"
        person = f.get("person")
        _need("person" in f and (person is None or (isinstance(person, int) and person >= 0)), f"{where}.person",
              "null or an id (a whole number from 0)")
        _need(isinstance(f.get("index"), int) and f["index"] >= last, f"{where}.index", "must not decrease")
        if f["index"] == last:  # another person of the same frame (--person all)
            _need(person is not None and last_person is not None and person > last_person, f"{where}.person",
                  "the people of one frame come once each, by increasing id")
        last, last_person = f["index"], person
        _need(isinstance(f.get("time"), (int, float)), f"{where}.time", "must be a number")
        _need(f.get("status") in FRAME_STATUS, f"{where}.status", f"one of {FRAME_STATUS}")
        box = f.get("box")
        _need(box is None or (isinstance(box, list) and len(box) == 4), f"{where}.box", "null or [x, y, w, h]")
        joints = f.get("joints", {})
        _need(set(joints) == set(JOINTS), f"{where}.joints", "must name every joint")
        for name, j in joints.items():
            _need(all(k in j for k in JOINT_FIELDS), f"{where}.joints.{name}", f"needs {JOINT_FIELDS}")
            _need((j["x"] is None) == (j["y"] is None) == (not j["visible"]), f"{where}.joints.{name}",
                  "x and y are null exactly when not visible")
    _need(isinstance(doc.get("summary"), dict), "summary", "missing")
