"""Finding and following the person: the region of interest for every frame when no --box is given.

Detection uses OpenCV's bundled frontal-face cascade (ships with opencv, no download);
the face's size gives the body scale, and the upper-body box is derived with the same
rule as training crops (roi.from_joints). The box is smoothed over time and the face is
re-detected every few frames; between detections, and when the face is lost, the last
box is held for a while before the frame is reported as having no person.
"""
from __future__ import annotations

import cv2
import numpy as np

from .roi import Roi, from_joints

REDETECT_EVERY = 5
HOLD_FRAMES = 25
SMOOTHING = 0.3


def face_cascade() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def roi_from_face(x: float, y: float, w: float, h: float) -> Roi:
    """Upper-body box implied by a face box: shoulders about one face width out and below."""
    head = np.array([x + w / 2, y + h / 2])
    joints = np.array([head, head + (-1.15 * w, 1.35 * h), head + (1.15 * w, 1.35 * h)] + [head] * 4)
    visible = np.array([True, True, True, False, False, False, False])
    roi = from_joints(joints, visible)
    assert roi is not None
    return roi


def choose(faces: np.ndarray, rule: str, width: int, height: int) -> np.ndarray | None:
    """Pick one face box by the --person rule: largest, center, or N (N-th from the left, from 0)."""
    if len(faces) == 0:
        return None
    if rule == "largest":
        return faces[np.argmax(faces[:, 2] * faces[:, 3])]
    if rule == "center":
        c = faces[:, :2] + faces[:, 2:] / 2 - [width / 2, height / 2]
        return faces[np.argmin((c**2).sum(1))]
    order = np.argsort(faces[:, 0])
    k = int(rule)
    return faces[order[k]] if k < len(order) else None


class PersonTracker:
    """Gives the region of interest of each frame, in order."""

    def __init__(self, rule: str = "largest", input_size: int = 256):
        if rule not in ("largest", "center") and not str(rule).isdigit():
            raise ValueError(f"--person must be largest, center or a number, not {rule!r}")
        self.rule = str(rule)
        self.cascade = face_cascade()
        self.current: Roi | None = None
        self.missed = 0

    def detect(self, rgb: np.ndarray) -> Roi | None:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = 1.0
        if max(grey.shape) > 960:
            scale = 960 / max(grey.shape)
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(16, 16))
        face = choose(np.asarray(faces).reshape(-1, 4).astype(np.float64), self.rule, grey.shape[1], grey.shape[0])
        return None if face is None else roi_from_face(*(face / scale))

    def region(self, rgb: np.ndarray, index: int) -> Roi | None:
        if self.current is None or index % REDETECT_EVERY == 0:
            found = self.detect(rgb)
            if found is not None:
                self.current = found if self.current is None else _blend(self.current, found, SMOOTHING)
                self.missed = 0
            elif self.current is not None:
                self.missed += REDETECT_EVERY
                if self.missed > HOLD_FRAMES:
                    self.current = None
        return self.current


def _blend(a: Roi, b: Roi, k: float) -> Roi:
    ca = np.array([a.x + a.side / 2, a.y + a.side / 2])
    cb = np.array([b.x + b.side / 2, b.y + b.side / 2])
    c = (1 - k) * ca + k * cb
    side = (1 - k) * a.side + k * b.side
    return Roi(c[0] - side / 2, c[1] - side / 2, side)
