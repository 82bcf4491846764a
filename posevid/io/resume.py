"""Checkpoints inside one video, so that a multi-hour broadcast interrupted at 90 % is not redone.

While a video is annotated, every `resume_every` frames the JSON and CSV written so far
(under their temporary .part names) are flushed and a small checkpoint beside them,
`.NAME.resume.json`, records how many frames they hold and their sizes. A later run of the
same command on the same file with the same settings finds it, cuts the .part files back to
those sizes, and continues: the pipeline restarts a warm-up stretch before the checkpoint
(so that every window after it is whole) and only frames from the checkpoint on are
written. The overlay video cannot be appended to, so a resumed run draws it again from the
first frame, taking the skeletons of the frames already done from the JSON: drawing and
encoding cost a fraction of the network and flow.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import AnnotateSettings
from .atomic import discard, replacing, temp_path

#: Settings that do not change any output (how often to checkpoint) are left out of the match.
NOT_RESULTS = ("resume_every",)


@dataclass
class Checkpoint:
    """How far a video's outputs got: frames 0..frames-1 are in the .part files."""

    frames: int
    json_bytes: int
    csv_bytes: int | None
    no_person: int
    cuts: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, int] = field(default_factory=dict)
    settings: str = ""
    next_person: int = 0  # every person id written so far is below this (--person all)


def checkpoint_path(json_final: Path) -> Path:
    return json_final.with_name(f".{json_final.stem}.resume.json")


def source_id(video: Path) -> dict[str, int]:
    """What identifies the input file: a changed file must not be resumed."""
    st = os.stat(video)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def save(cp: Checkpoint, json_final: Path) -> None:
    """Write the checkpoint atomically (after the .part files it describes were flushed)."""
    path = checkpoint_path(json_final)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(asdict(cp)), encoding="utf-8")


def remove(json_final: Path) -> None:
    discard(checkpoint_path(json_final))


def load(video: Path, paths: dict[str, Path], settings: AnnotateSettings) -> Checkpoint | None:
    """The checkpoint of an unfinished run of this video with these settings, or None.

    Anything that does not match (another file under the same name, other settings, a
    missing or short .part file, an unreadable checkpoint) means starting over.
    """
    path = checkpoint_path(paths["json"])
    try:
        cp = Checkpoint(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    parts = {"json": cp.json_bytes, "csv": cp.csv_bytes}
    for kind, size in parts.items():
        if kind not in paths:
            continue
        part = temp_path(paths[kind])
        if size is None or not part.is_file() or part.stat().st_size < size:
            return None
    if cp.source != source_id(video) or cp.settings != settings.fingerprint(NOT_RESULTS) or cp.frames <= 0:
        return None
    return cp


def written_records(json_part: Path, upto: int) -> Iterator[dict[str, Any]]:
    """Stream the frame records in the first `upto` bytes of a .part JSON (one per line)."""
    with open(json_part, "rb") as f:
        data_left = upto
        in_frames = False
        for line in f:
            if data_left <= 0:
                return
            data_left -= len(line)
            text = line.decode("utf-8").strip()
            if not in_frames:
                in_frames = text == '"frames": ['
                continue
            if text.startswith("{"):
                yield json.loads(text.rstrip(","))
