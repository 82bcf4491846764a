"""The one home of joint names, skeleton, drawing colours and format mappings.

Every other module imports from here, so that adding a format or changing the
joint order happens in exactly one place. "right" is always the person's right.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

JOINTS: tuple[str, ...] = (
    "head",
    "right_shoulder",
    "left_shoulder",
    "right_elbow",
    "left_elbow",
    "right_wrist",
    "left_wrist",
)
NUM_JOINTS = len(JOINTS)
JOINT_INDEX = {name: i for i, name in enumerate(JOINTS)}

#: Index of each joint's mirror image, used by horizontal-flip augmentation.
FLIP_PERMUTATION: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5)

#: Face points taught beside the joints while training only (train.face_weight), never shipped:
#: which way a person faces decides which arm is the right one, and the face is where it shows
#: (benchmarks: three quarters of the held-out arm joints found on the other side's label lie in
#: photos where the whole person was read mirrored). Their heatmaps follow the joints' channels.
FACE_POINTS: tuple[str, ...] = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
#: Every point a network trained with face points has a channel for, and their mirror images.
TRAINING_POINTS: tuple[str, ...] = JOINTS + FACE_POINTS
TRAINING_FLIP: tuple[int, ...] = FLIP_PERMUTATION + (7, 9, 8, 11, 10)


def flip_permutation(num_points: int) -> tuple[int, ...]:
    """The mirror-image permutation for the joints alone or the joints with the face points."""
    if num_points == NUM_JOINTS:
        return FLIP_PERMUTATION
    if num_points == len(TRAINING_POINTS):
        return TRAINING_FLIP
    raise ValueError(f"no mirror permutation for {num_points} points")


#: Joint types for evaluation: left and right are averaged, as in the paper.
JOINT_TYPES: dict[str, tuple[int, ...]] = {
    "head": (0,),
    "shoulders": (1, 2),
    "elbows": (3, 4),
    "wrists": (5, 6),
}

#: Skeleton edges (pairs of joint indices) drawn in overlays.
SKELETON: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (1, 3), (3, 5), (2, 4), (4, 6))

#: RGB colours per joint (frames are RGB from decoding to encoding): the person's right in warm,
#: left in cool colours.
JOINT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 255, 255),
    (255, 140, 0),
    (0, 160, 255),
    (255, 90, 0),
    (0, 90, 255),
    (255, 0, 0),
    (0, 0, 255),
)
#: RGB colours of people drawn with --person all: person id k is drawn in PERSON_COLOURS[k % len].
PERSON_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)

# Format mappings: for each of our joints, the indices of the source joints whose mean it is.
# A head is the mean of the face points a format has, which approximates the head centre.
LSP_MAPPING: tuple[tuple[int, ...], ...] = ((12, 13), (8,), (9,), (7,), (10,), (6,), (11,))
"""LSP (14 joints: ankles, knees, hips, wrists, elbows, shoulders, neck, head top).

The head is the midpoint of neck and head top, which lies near the face centre where
MediaPipe's and COCO's face points put it. It is labelled only when both are: the head top
alone (15% of LSP Extended) sits 0.2 torso higher, and mixing the two teaches two heads."""

#: Joints of LSP_MAPPING whose source points must all be labelled (the head, see above).
LSP_COMPLETE: tuple[int, ...] = (0,)

#: Keypoint names of COCO-style files (their categories[0].keypoints, lower case, spaces as
#: underscores), for files whose points are not COCO's 17 in COCO's order (Human3.6M, CrowdPose,
#: AI Challenger, PoseTrack, JHMDB as mmpose writes them): the arm joints by name; the head from
#: the face points when the file names any, else, as LSP's, the midpoint of a head top and a neck,
#: labelled only when both are (named_mapping).
FACE_NAMES: tuple[str, ...] = FACE_POINTS
HEAD_TOP_NAMES: tuple[str, ...] = ("head_top", "head")
NECK_NAMES: tuple[str, ...] = ("neck", "head_bottom", "neck_base", "thorax")


def keypoint_index(names: Sequence[str]) -> dict[str, int]:
    """Each keypoint's index by its name in one spelling ("Right Shoulder" -> "right_shoulder")."""
    return {n.lower().replace(" ", "_"): i for i, n in enumerate(names)}


def named_mapping(names: Sequence[str]) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """(mapping, complete) for map_joints from a file's keypoint names (FACE_NAMES above)."""
    index = keypoint_index(names)
    face = tuple(index[n] for n in FACE_NAMES if n in index)
    top = next((index[n] for n in HEAD_TOP_NAMES if n in index), None)
    neck = next((index[n] for n in NECK_NAMES if n in index), None)
    head, complete = (face, ()) if face else ((top, neck), (0,)) if top is not None and neck is not None else ((), ())
    arms = tuple((index[n],) if n in index else () for n in JOINTS[1:])
    return (head, *arms), complete


FLIC_MAPPING: tuple[tuple[int, ...], ...] = ((12, 13, 16), (3,), (0,), (4,), (1,), (5,), (2,))
"""FLIC (29 points: lsho, lelb, lwri, rsho, relb, rwri, ..., leye 12, reye 13, nose 16)."""

COCO_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle")
"""COCO's 17 keypoints in their order, read by name (named_mapping) like any file's: for COCO files
that do not name theirs. The head is the mean of nose, eyes and ears."""

MEDIAPIPE_FACE: tuple[int, ...] = (0, 2, 5, 7, 8)
"""MediaPipe's landmarks of FACE_POINTS, in that order."""
MEDIAPIPE_MAPPING: tuple[tuple[int, ...], ...] = (MEDIAPIPE_FACE, (12,), (11,), (14,), (13,), (16,), (15,))
"""MediaPipe Pose (33 landmarks: nose 0, eyes 2/5, ears 7/8, shoulders 11/12, elbows 13/14, wrists 15/16)."""

OPENPOSE_BODY25_FROM_OURS: dict[int, int] = {0: 0, 1: 2, 2: 5, 3: 3, 4: 6, 5: 4, 6: 7}
"""OpenPose BODY_25 keypoint index for each of ours that it has (nose stands in for head)."""


def map_joints(points: np.ndarray, visible: np.ndarray, mapping: Sequence[Sequence[int]],
               complete: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Map source keypoints (N×2) with visibility flags (N) onto our joints.

    A joint is the mean of the visible source points of its group; it is visible when
    at least one of them is, or, for the joints listed in `complete`, only when all of
    them are. Returns (7×2 float32 positions, 7 bool visibility).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    visible = np.asarray(visible, dtype=bool).reshape(-1)
    out = np.zeros((NUM_JOINTS, 2), dtype=np.float32)
    vis = np.zeros(NUM_JOINTS, dtype=bool)
    for j, group in enumerate(mapping):
        members = [i for i in group if i < len(points) and visible[i]]
        if members and (j not in complete or len(members) == len(group)):
            out[j] = points[members].mean(axis=0)
            vis[j] = True
    return out, vis
