"""Output writers: streamed JSON and CSV, skeleton drawing, and atomic file replacement.

Every output is written under a temporary name in the destination folder and renamed
when complete, so a crash, Ctrl-C or full disk never leaves a truncated file under the
final name (rename is atomic on one filesystem).
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from ..errors import OutputError
from ..joints import JOINT_COLOURS, JOINTS, PERSON_COLOURS, SKELETON
from .atomic import commit, discard, temp_path

FORMAT_NAME = "posevid"
FORMAT_VERSION = 1
CSV_COLUMNS = ("frame", "time", "person", "joint", "x", "y", "confidence", "visible")


def close_quietly(f: IO[str]) -> None:
    """Close a file being thrown away; its final flush may fail again on a full disk."""
    try:
        f.close()
    except OSError:
        pass


def _open_text(path: Path, keep: int | None = None) -> IO[str]:
    """A new text file, or with `keep` an existing one cut back to that many bytes and
    continued (a resumed run, resume.py)."""
    try:
        if keep is None:
            return open(path, "w", encoding="utf-8", newline="")
        with open(path, "r+b") as f:
            f.truncate(keep)
        return open(path, "a", encoding="utf-8", newline="")
    except OSError as e:
        raise OutputError(f"{path.parent}: cannot write ({e.strerror})") from None


def frame_record(index: int, time: float, joints: np.ndarray | None, confidence: np.ndarray | None,
                 threshold: float, box: Sequence[float] | None = None, status: str = "ok",
                 person: int | None = None) -> dict[str, Any]:
    """One frame (one person of it) in the JSON format: the tracker's person id, named joints
    with x, y (null when not visible) and confidence."""
    rec: dict[str, Any] = {"index": index, "time": round(time, 6), "status": status, "person": person}
    named = {}
    for j, name in enumerate(JOINTS):
        c = float(confidence[j]) if confidence is not None else 0.0
        visible = joints is not None and c >= threshold and bool(np.isfinite(joints[j]).all())
        named[name] = {
            "x": round(float(joints[j, 0]), 2) if visible else None,
            "y": round(float(joints[j, 1]), 2) if visible else None,
            "confidence": round(c, 4),
            "visible": visible,
        }
    rec["joints"] = named
    rec["box"] = [round(float(v), 2) for v in box] if box is not None else None
    return rec


class PartFile:
    """A text output being written under its temporary name (writers below)."""

    temp: Path
    f: IO[str]

    def flush(self) -> int:
        """Push what was written to the file; returns the file's size in bytes."""
        self.f.flush()
        return os.fstat(self.f.fileno()).st_size

    def abort(self) -> None:
        """Stop and delete the unfinished file."""
        close_quietly(self.f)
        discard(self.temp)

    def detach(self) -> None:
        """Stop writing but keep the .part file (a resume checkpoint refers to it)."""
        close_quietly(self.f)


class JsonWriter(PartFile):
    """Streams the posevid JSON document: header fields, the frames list, then trailer fields.

    Frames are written as they come (one per line) so memory does not grow with the video.
    """

    def __init__(self, final: Path, header: dict[str, Any]):
        self.final = Path(final)
        self.temp = temp_path(self.final)
        self.f = _open_text(self.temp)
        head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "joints": list(JOINTS), **header}
        text = json.dumps(head, indent=1)
        self.f.write(text[:-2] + ',\n "frames": [\n')
        self.count = 0

    @classmethod
    def reopen(cls, final: Path, size: int, count: int) -> JsonWriter:
        """Continue a .part file cut back to `size` bytes, which hold `count` frames (resume.py)."""
        w = cls.__new__(cls)
        w.final, w.temp, w.count = Path(final), temp_path(Path(final)), count
        w.f = _open_text(w.temp, keep=size)
        return w


    def add(self, record: dict[str, Any]) -> None:
        self.f.write((",\n" if self.count else "") + json.dumps(record, separators=(",", ":")))
        self.count += 1

    def close(self, trailer: dict[str, Any]) -> None:
        tail = json.dumps(trailer, indent=1)
        self.f.write("\n ]" + ("," + tail[1:] if trailer else "\n}"))
        self.f.close()
        commit(self.temp, self.final)



class CsvWriter(PartFile):
    """One row per frame, person and joint; x and y are empty when the joint is not visible, the
    person when nobody was found (or a fixed region was given)."""

    def __init__(self, final: Path):
        self.final = Path(final)
        self.temp = temp_path(self.final)
        self.f = _open_text(self.temp)
        self.w = csv.writer(self.f)
        self.w.writerow(CSV_COLUMNS)

    @classmethod
    def reopen(cls, final: Path, size: int) -> CsvWriter:
        """Continue a .part file cut back to `size` bytes (resume.py)."""
        w = cls.__new__(cls)
        w.final, w.temp = Path(final), temp_path(Path(final))
        w.f = _open_text(w.temp, keep=size)
        w.w = csv.writer(w.f)
        return w


    def add(self, record: dict[str, Any]) -> None:
        for name, j in record["joints"].items():
            self.w.writerow([record["index"], record["time"], _blank(record.get("person")), name,
                             "" if j["x"] is None else j["x"], "" if j["y"] is None else j["y"],
                             j["confidence"], int(j["visible"])])

    def close(self) -> None:
        self.f.close()
        commit(self.temp, self.final)



def _blank(value: Any) -> Any:
    return "" if value is None else value


def draw_skeleton(image: np.ndarray, record: dict[str, Any], box: Sequence[float] | None = None,
                  colour: tuple[int, int, int] | None = None, label: str | None = None) -> np.ndarray:
    """Draw the visible joints and skeleton edges of one frame record onto an RGB image (in place):
    in the joints' colours, or all in `colour` (one person among several), with `label` by the head."""
    h, w = image.shape[:2]
    scale = max(1.0, min(h, w) / 360.0)
    thick = max(1, int(round(2 * scale)))
    radius = max(2, int(round(4 * scale)))
    pts: list[tuple[int, int] | None] = []
    for name in JOINTS:
        j = record["joints"][name]
        pts.append(None if j["x"] is None else (int(round(j["x"])), int(round(j["y"]))))
    # Drawn straight onto the RGB image with RGB colours: no colour-order copies of the frame.
    canvas = image if image.flags.c_contiguous else np.ascontiguousarray(image)
    for a, b in SKELETON:
        if pts[a] is not None and pts[b] is not None:
            cv2.line(canvas, pts[a], pts[b], colour or JOINT_COLOURS[b], thick, cv2.LINE_AA)
    for i, p in enumerate(pts):
        if p is not None:
            cv2.circle(canvas, p, radius, colour or JOINT_COLOURS[i], -1, cv2.LINE_AA)
    if box is not None:
        x, y, bw, bh = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x, y), (x + bw, y + bh), colour or (0, 255, 0), 1)
    if label is not None:
        anchor = next((p for p in pts if p is not None), None)
        region = record.get("box")
        if anchor is None and region is not None:
            anchor = (int(region[0]), int(region[1]) + 3 * radius)
        if anchor is not None:
            org = (anchor[0] + 2 * radius, max(3 * radius, anchor[1] - 2 * radius))
            font = 0.5 * scale
            cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, font, colour or (255, 255, 255), thick,
                        cv2.LINE_AA)
    return canvas


def draw_people(image: np.ndarray, records: list[dict[str, Any]], show_box: bool, ids: bool) -> np.ndarray:
    """Draw one frame's records onto an RGB image (in place): with `ids` (--person all) each person
    in their own colour with their id, else in the joints' colours."""
    for rec in records:
        box = rec.get("box") if show_box else None
        person = rec.get("person")
        if ids and person is not None:
            draw_skeleton(image, rec, box, PERSON_COLOURS[person % len(PERSON_COLOURS)], str(person))
        else:
            draw_skeleton(image, rec, box)
    return image


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a posevid JSON document (ours or a user's corrected copy)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a posevid JSON file")
    return doc


def record_arrays(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(7×2 positions with NaN for invisible joints, 7 confidences) of one frame record."""
    xy = np.full((len(JOINTS), 2), np.nan, dtype=np.float32)
    conf = np.zeros(len(JOINTS), dtype=np.float32)
    for i, name in enumerate(JOINTS):
        j = record["joints"].get(name)
        if j is None:
            continue
        conf[i] = j.get("confidence", 0.0) or 0.0
        if j.get("x") is not None and j.get("y") is not None and j.get("visible", True):
            xy[i] = (j["x"], j["y"])
    return xy, conf
