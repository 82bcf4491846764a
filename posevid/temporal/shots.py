"""Shot-cut detection while streaming, so temporal pooling never mixes two scenes.

A cut is declared when the colour histogram of the network input changes abruptly
(Bhattacharyya distance above a threshold) or when the gap between two timestamps is
longer than `max_gap` seconds (dropped frames, a splice). Each frame gets a segment
number; the pipeline pools only within one segment, exactly as at the ends of a video.
"""
from __future__ import annotations

import cv2
import numpy as np


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    h = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(h, h).flatten()


class ShotDetector:
    """Feed frames in order with update(); it returns each frame's segment number."""

    def __init__(self, threshold: float | None = 0.5, max_gap: float | None = 0.5):
        """threshold: histogram distance (0..1) that is a cut; max_gap: seconds. None or 0 turns each off."""
        self.threshold = threshold or None
        self.max_gap = max_gap or None
        self.segment = 0
        self.cuts: list[dict] = []
        self._prev_hist: np.ndarray | None = None
        self._prev_time: float | None = None

    def update(self, rgb: np.ndarray, time: float, index: int) -> int:
        reason = None
        hist = colour_histogram(rgb) if self.threshold is not None else None
        if self._prev_time is not None:
            if self.max_gap is not None and time - self._prev_time > self.max_gap:
                reason = "gap"
            elif hist is not None and self._prev_hist is not None:
                d = cv2.compareHist(self._prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA)
                if d > self.threshold:
                    reason = "cut"
        if reason is not None:
            self.segment += 1
            self.cuts.append({"frame": index, "time": round(time, 6), "reason": reason})
        self._prev_hist, self._prev_time = hist, time
        return self.segment
