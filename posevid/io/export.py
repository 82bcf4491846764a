"""`posevid export`: gather a batch's per-video results into one CSV, or into OpenPose's JSON layout."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from ..errors import OutputError, PosevidError
from ..joints import JOINTS, OPENPOSE_BODY25_FROM_OURS
from .atomic import commit, temp_path
from .writers import read_json

OPENPOSE_POINTS = 25


def _openpose_person(record: dict) -> dict:
    """One person of a frame in OpenPose's layout: BODY_25 points with ours filled in, id or -1."""
    kp = [0.0] * (3 * OPENPOSE_POINTS)
    for ours, theirs in OPENPOSE_BODY25_FROM_OURS.items():
        j = record["joints"][JOINTS[ours]]
        if j["x"] is not None:
            kp[3 * theirs: 3 * theirs + 3] = [j["x"], j["y"], j["confidence"]]
    person = record.get("person")
    return {"person_id": [-1 if person is None else person], "pose_keypoints_2d": kp}


def result_files(out_dir: Path) -> Iterator[Path]:
    """Finished posevid JSON results under a folder (hidden temporaries excluded)."""
    for p in sorted(out_dir.rglob("*.json")):
        if not p.name.startswith(".") and p.name != "manifest.jsonl":
            try:
                with open(p, encoding="utf-8") as f:
                    head = f.read(64)
            except OSError:
                continue
            if '"format": "posevid"' in head:
                yield p


def export_csv(out_dir: Path, dest: Path) -> int:
    """One CSV of every result: video, frame, time, person, joint, x, y, confidence. Returns rows written."""
    tmp = temp_path(dest)
    rows = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["video", "frame", "time", "person", "joint", "x", "y", "confidence"])
            for path in result_files(out_dir):
                doc = read_json(path)
                name = str(path.relative_to(out_dir).with_suffix(""))
                for fr in doc["frames"]:
                    for joint in JOINTS:
                        j = fr["joints"][joint]
                        person = fr.get("person")
                        w.writerow([name, fr["index"], fr["time"], "" if person is None else person, joint,
                                    "" if j["x"] is None else j["x"],
                                    "" if j["y"] is None else j["y"], j["confidence"]])
                        rows += 1
        commit(tmp, dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{dest}: cannot write ({e.strerror})") from None
    return rows


def export_openpose(out_dir: Path, dest: Path) -> int:
    """Per frame, NAME_000000000000_keypoints.json in OpenPose's BODY_25 layout (our joints filled
    in, the others zero); one folder per video. Returns the number of files written."""
    if not any(True for _ in result_files(out_dir)):
        raise PosevidError(f"{out_dir}: no posevid results to export")
    count = 0
    for path in result_files(out_dir):
        doc = read_json(path)
        folder = dest / path.relative_to(out_dir).with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        for index, records in groupby(doc["frames"], key=lambda fr: fr["index"]):
            people = [_openpose_person(fr) for fr in records if fr["status"] == "ok"]
            out = folder / f"{path.stem}_{index:012d}_keypoints.json"
            tmp = temp_path(out)
            tmp.write_text(json.dumps({"version": 1.3, "people": people}))
            commit(tmp, out)
            count += 1
    return count
