"""Dense optical flow between consecutive frames, behind one interface.

Convention (docs/design): flow[y, x] = (dx, dy) takes a pixel of frame a to frame b.
Flow is only ever computed between consecutive frames, at a reduced size of the
network input, and then resampled to heatmap resolution: the temporal stage never
touches full-resolution frames, and its cost per frame does not depend on the window.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..choices import FLOW_METHODS

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_flow(method: str) -> FlowFn | None:
    """A function (grey a, grey b) -> H×W×2 float32 flow from a to b; None for "none"."""
    if method == "none":
        return None
    if method == "deepflow":
        if not hasattr(cv2, "optflow"):
            raise ValueError("DeepFlow needs opencv-contrib-python (cv2.optflow is missing)")
        deep = cv2.optflow.createOptFlow_DeepFlow()
        return lambda a, b: deep.calc(a, b, None)
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    if method == "dis":
        # ULTRAFAST: at our 128-pixel flow size it is 3 times cheaper than FAST and 9 times
        # cheaper than MEDIUM, and held-out PCK after pooling at n = 15 was the same as FAST's
        # within 0.7 point per joint type (docs/design.md; docs/performance.md, flow_presets).
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        return lambda a, b: dis.calc(a, b, None)
    raise ValueError(f"unknown flow method {method!r} (choose from {', '.join(FLOW_METHODS)})")


def flow_image(rgb_input: np.ndarray, size: int) -> np.ndarray:
    """The grey, shrunk network input that flow is computed on."""
    grey = cv2.cvtColor(rgb_input, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != size:
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return grey


def to_heatmap(flow: np.ndarray, heatmap_size: int) -> np.ndarray:
    """Resample a flow field to heatmap resolution, scaling the displacements with it.

    Both grids cover the same network input, so area resizing keeps pixel centres aligned.
    Returns H×W×2 float32.
    """
    size = flow.shape[0]
    if size != heatmap_size:
        flow = cv2.resize(flow, (heatmap_size, heatmap_size), interpolation=cv2.INTER_AREA) * (heatmap_size / size)
    return np.ascontiguousarray(flow, dtype=np.float32)
