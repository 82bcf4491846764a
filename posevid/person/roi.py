"""Regions of interest: the square of the frame that becomes the 256×256 network input.

One definition of "the upper-body box from joints" serves training crops, evaluation
and the automatic person tracking at inference, so that the network always sees
people at the scale it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Box side in units of body scale (max of shoulder width and 1.6 × head-to-shoulder distance).
#: Wide enough for the hands in nearly any arm pose: on LSP Extended (arms at full stretch in
#: sports) 89% of labelled wrists and 99.8% of elbows fall inside a box of 4.5 body scales
#: centred 0.1 below the shoulders, against 62% and 95% for the 3.2 used before.
BOX_SIDE = 4.5
#: Box centre below the shoulder midpoint, in units of body scale.
BOX_DROP = 0.1


@dataclass(frozen=True)
class Roi:
    """A square region (x, y = top-left, side) in frame pixels; may extend past the frame."""

    x: float
    y: float
    side: float

    @staticmethod
    def centred(cx: float, cy: float, side: float) -> Roi:
        """The square of this side around a centre."""
        return Roi(cx - side / 2.0, cy - side / 2.0, side)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.side / 2.0, self.y + self.side / 2.0)

    def as_xywh(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.side, self.side)

    def affine(self, size: int) -> np.ndarray:
        """2×3 matrix taking frame pixels to network-input pixels (size×size)."""
        s = size / self.side
        return np.array([[s, 0.0, -self.x * s], [0.0, s, -self.y * s]], dtype=np.float64)

    def to_frame(self, pts: np.ndarray, size: int) -> np.ndarray:
        """Map network-input pixel positions (N×2) back to frame pixels."""
        return pts * (self.side / size) + np.array([self.x, self.y])


def letterbox(width: int, height: int) -> Roi:
    """The whole frame, centred in a square (bars added on the short side)."""
    side = float(max(width, height))
    return Roi((width - side) / 2.0, (height - side) / 2.0, side)


def from_box(x: float, y: float, w: float, h: float) -> Roi:
    """A user's --box x,y,w,h: the square that contains it, centred on it."""
    side = float(max(w, h))
    return Roi.centred(x + w / 2.0, y + h / 2.0, side)


def fixed_region(box: tuple[float, float, float, float] | None, mode: str, width: int, height: int) -> Roi | None:
    """The one region of every frame when the user fixes it (--box, or --roi letterbox), else None:
    people are then found and followed (person.tracking)."""
    if box is not None:
        return from_box(*box)
    return letterbox(width, height) if mode == "letterbox" else None


def body_scale(joints: np.ndarray, visible: np.ndarray) -> float | None:
    """Body scale from shoulders and head, or None when they are not all visible."""
    if not (visible[0] and visible[1] and visible[2]):
        return None
    mid = (joints[1] + joints[2]) / 2.0
    shoulder = float(np.linalg.norm(joints[1] - joints[2]))
    neck = float(np.linalg.norm(joints[0] - mid))
    return max(shoulder, 1.6 * neck, 1.0)


def body_box(joints: np.ndarray, visible: np.ndarray) -> Roi | None:
    """The upper-body box of the crop rule, or None when head or a shoulder is missing.

    Training crops use only this rule (no fallback), so that the network learns one framing:
    the one the person detector is trained to give at inference (detector.py).
    """
    scale = body_scale(joints, visible)
    if scale is None:
        return None
    mid = (joints[1] + joints[2]) / 2.0
    side = BOX_SIDE * scale
    cx, cy = mid[0], mid[1] + BOX_DROP * scale
    return Roi.centred(cx, cy, side)


def from_joints(joints: np.ndarray, visible: np.ndarray) -> Roi | None:
    """The upper-body box: centred a little below the shoulders, sized from the body scale.

    Falls back to the bounding box of whatever joints are visible (1.8× its size) when
    head or a shoulder is missing; None when fewer than two joints are visible.
    """
    box = body_box(joints, visible)
    if box is not None:
        return box
    pts = joints[visible]
    if len(pts) < 2:
        return None
    lo, hi = pts.min(0), pts.max(0)
    side = max(float((hi - lo).max()) * 1.8, 32.0)
    c = (lo + hi) / 2.0
    return Roi.centred(c[0], c[1], side)


def crop(image: np.ndarray, roi: Roi, size: int) -> np.ndarray:
    """The roi of an image resized to size×size; outside the frame is black.

    Large reductions first shrink the image by an integer factor with area averaging,
    since warpAffine's bilinear sampling would alias (a 4K frame into 256 pixels).
    """
    factor = int(roi.side // (2 * size))
    if factor >= 2:
        image = cv2.resize(image, (image.shape[1] // factor, image.shape[0] // factor), interpolation=cv2.INTER_AREA)
        roi = Roi(roi.x / factor, roi.y / factor, roi.side / factor)
    return cv2.warpAffine(image, roi.affine(size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
