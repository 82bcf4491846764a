"""Photos whose labels give left and right as the viewer sees them, not as the person has them.

Our joints are the person's own right and left (joints.py), as MediaPipe's and COCO's are. LSP
Extended's crowd-sourced labels do not always keep to that: on training photos 401-1400 whose
labelled shoulders are apart, MediaPipe finds the arms the other way round in 7% of them, and
looking at those photos shows why: a runner facing the camera with his right shoulder labelled
left, a crouching man and a basketball player the same (docs/training.md). A network taught both
conventions at once learns that the sides are a coin toss: on held-out LSP photos with the
labelled box, 17% of its arm joints land on the other side's joint.

`posevid check-sides CONFIG` reads every labelled photo of a training config with the teacher
and lists those where its arms match the labels swapped, clearly (SWAP_RATIO) and confidently
(MIN_CONFIDENCE); a data source that names the list (`swapped: FILE`) reads those photos with
left and right exchanged (datasets.read_source). The teacher only judges the sides; the
positions stay the human labels. Held-out and evaluation labels are never changed.

Measured (configs/h128-sides.yaml, docs/training.md): a leg trained with the 428 photos listed
among 9,720 swapped scored the same as one without on held-out photos (62.4 with the labelled
box, 120 swapped arm joints against 123), so the shipped network does not use it. The tool stays
for data whose labels mix the two conventions more often.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io.atomic import replacing
from ..io.images import read_rgb
from ..joints import FLIP_PERMUTATION

if TYPE_CHECKING:
    from .datasets import Sample

#: The teacher's arms must lie at least this much closer (summed distance to the labels) to the
#: labels swapped than to the labels as they are.
SWAP_RATIO = 0.5
#: ... and the teacher must be at least this confident, on average, of the arm joints it compares.
MIN_CONFIDENCE = 0.5
#: ... and the labelled shoulders at least this far apart (pixels): a person seen from the side
#: has both shoulders on one spot, where no side can be told by distance.
MIN_SHOULDER_WIDTH = 15.0
#: The arm joints compared: right/left shoulder, elbow and wrist.
ARMS = (1, 2, 3, 4, 5, 6)


def arm_distances(joints: np.ndarray, labelled: np.ndarray, found: np.ndarray) -> tuple[list[int], float, float]:
    """The arm joints labelled on both sides, and the summed distance of the teacher's joints
    (`found`, 7×2) over them to their own labels and to the other side's labels."""
    pairs = [j for j in ARMS if labelled[j] and labelled[FLIP_PERMUTATION[j]]]
    same = sum(float(np.linalg.norm(found[j] - joints[j])) for j in pairs)
    other = sum(float(np.linalg.norm(found[j] - joints[FLIP_PERMUTATION[j]])) for j in pairs)
    return pairs, same, other


def viewer_sided(joints: np.ndarray, labelled: np.ndarray, found: np.ndarray, confidence: np.ndarray) -> bool:
    """Whether a teacher's pose (`found`, `confidence`: 7×2, 7) says these labels have left and
    right exchanged: over the arm joints labelled on both sides, the teacher's joints lie much
    closer to the labels of the other side than to their own."""
    if not (labelled[1] and labelled[2]) or np.linalg.norm(joints[1] - joints[2]) < MIN_SHOULDER_WIDTH:
        return False
    pairs, same, other = arm_distances(joints, labelled, found)
    if float(np.mean(confidence[pairs])) < MIN_CONFIDENCE:
        return False
    return other < SWAP_RATIO * same


def readable_photos(samples: Iterable[Sample]) -> Iterator[tuple[Sample, np.ndarray]]:
    """Each photo sample (not a video frame) whose image can be read, with its RGB pixels: what
    the teacher reads for check-sides and face-points."""
    for s in samples:
        if s.frame is not None or not Path(s.source).is_file():
            continue
        rgb = read_rgb(Path(s.source))
        if rgb is not None:
            yield s, rgb


def find_viewer_sided(samples: Iterable[Sample], teacher) -> list[str]:  # noqa: ANN001 - teacher.Teacher
    """File names of the photos among `samples` whose labels the teacher reads the other way round."""
    out = []
    for s, rgb in readable_photos(samples):
        pose = teacher(rgb)
        if pose is not None and viewer_sided(s.joints, s.labelled, *pose):
            out.append(Path(s.source).name)
    return out


def write_list(names: list[str], path: Path) -> None:
    """The list as JSON, written whole or not at all."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(sorted(names), indent=0) + "\n")


def swap_sides(samples: list[Sample], names_file: Path) -> None:
    """Exchange left and right in the samples whose image file is named in `names_file`."""
    names = set(json.loads(Path(names_file).read_text()))
    perm = list(FLIP_PERMUTATION)
    for s in samples:
        if s.frame is None and Path(s.source).name in names:
            s.joints, s.labelled = s.joints[perm], s.labelled[perm]
