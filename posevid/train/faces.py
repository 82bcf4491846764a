"""Face points as extra training targets: the teacher's nose, eyes and ears on labelled photos.

Which arm is the right one depends on which way the person faces. On held-out LSP photos with the
labelled box, the shipped network put 123 of 731 arm joints on the other side's label, and 93 of
them lie in the 26 photos where it read the whole person mirrored; MediaPipe, which is taught the
face, reads 16 of those photos mirrored. Our labels name no face point, so the network has to
learn facing from the arms alone. `posevid face-points CONFIG -o FILE` asks the MediaPipe teacher
for the face points of every labelled photo of a training config, and keeps them only where the
teacher found the labelled person the same way round as the labels (its head at the labelled
head, its arms nearer their own labels than the other side's): the face points then agree with
the arm labels they are taught beside. A config's `train.faces: FILE` with `face_weight` above 0
trains a network with one more heatmap per face point (joints.TRAINING_POINTS); export drops
those channels (nets.fold_batchnorm), so the shipped network is unchanged in size and speed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io.atomic import replacing
from ..joints import FACE_POINTS, MEDIAPIPE_FACE
from ..person.roi import body_scale
from .sides import arm_distances, readable_photos
from .teacher import joints_of_landmarks

if TYPE_CHECKING:
    from .datasets import Sample

#: A face point is kept when the teacher's visibility of it is at least this.
MIN_VISIBILITY = 0.5
#: The teacher's head must lie within this many body scales of the labelled head ...
HEAD_TOLERANCE = 0.5
#: ... and its arms, summed over the joints labelled on both sides, at most this fraction of their
#: distance to the other side's labels from their own.
SAME_SIDE_RATIO = 0.7


def same_way_round(joints: np.ndarray, labelled: np.ndarray, found: np.ndarray) -> bool:
    """Whether a teacher's 7 joints (`found`) are the labelled person, read as the labels read it."""
    scale = body_scale(joints, labelled)
    if scale is None or np.linalg.norm(found[0] - joints[0]) > HEAD_TOLERANCE * scale:
        return False
    pairs, same, other = arm_distances(joints, labelled, found)
    return bool(pairs) and same <= SAME_SIDE_RATIO * other


def find_face_points(samples: Iterable[Sample], teacher) -> dict[str, list[list[float]]]:  # noqa: ANN001
    """For each photo among `samples` the teacher agrees with: its path -> the face points as
    [x, y, visibility] in FACE_POINTS order."""
    out: dict[str, list[list[float]]] = {}
    for s, rgb in readable_photos(samples):
        found = teacher.landmarks(rgb)
        if found is None:
            continue
        pts, vis = found
        if same_way_round(s.joints, s.labelled, joints_of_landmarks(pts, vis)[0]):
            out[s.source] = [[round(float(pts[i, 0]), 1), round(float(pts[i, 1]), 1), round(float(vis[i]), 3)]
                             for i in MEDIAPIPE_FACE]
    return out


def write_face_points(points: dict[str, list[list[float]]], path: Path) -> None:
    """The face points as JSON, written whole or not at all."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps({"points": list(FACE_POINTS), "photos": points}) + "\n")


def attach_face_points(samples: list[Sample], path: Path) -> int:
    """Give each sample named in a face-points file its face points (`Sample.face`, 5×2, and
    `Sample.face_labelled`); returns how many samples got them."""
    doc = json.loads(Path(path).read_text())
    if doc.get("points") != list(FACE_POINTS):
        raise ValueError(f"{path}: face points {doc.get('points')}, not {list(FACE_POINTS)}")
    photos = doc["photos"]
    n = 0
    for s in samples:
        p = photos.get(s.source) if s.frame is None else None
        if p is not None:
            a = np.asarray(p, dtype=np.float32)
            s.face, s.face_labelled = a[:, :2].copy(), a[:, 2] >= MIN_VISIBILITY
            n += 1
    return n
