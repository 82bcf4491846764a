"""What Annotator.run gives for each frame and person: the public result type.

A user's script reads joints and confidences from it; the writers take its JSON record;
evaluation and training read the documented internals (the pooled heatmap, the warped window)
from the same object, so no string-keyed bag crosses a module boundary.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import numpy as np
import torch

from .io.video import Frame
from .person.roi import Roi


@dataclass(frozen=True)
class PoseResult:
    """One person in one frame (or the frame itself when nobody is in it).

    joints: 7×2 frame pixels of every joint's heatmap peak, whatever its confidence (joints.JOINTS
    order); `visible` says which pass the threshold (the JSON reports only those). None, with
    confidence and visible, when nobody was found or the frame was only decoded.
    heatmap: the pooled J×H×W heatmap on the network input's grid (box.to_frame maps it back).
    stack, present: with run(keep_stacks=True), the (2n+1)×J×H×W warped window (fp16) and which
    of its slots hold a frame: what the pooling layer is trained on.
    """

    frame: Frame
    status: str                       # ok | no_person | skipped (decoded only: before a resume)
    person: int | None                # the tracker's id; None for a fixed region or nobody
    box: Roi | None                   # the region that was the network input
    joints: np.ndarray | None
    confidence: np.ndarray | None
    visible: np.ndarray | None
    record: dict[str, Any] | None     # the JSON record the writers write (docs/formats.md)
    heatmap: np.ndarray | None = None
    stack: torch.Tensor | None = None
    present: torch.Tensor | None = None


def by_frame(results: Iterable[PoseResult]) -> Iterator[list[PoseResult]]:
    """Annotator.run's results a frame at a time (with --person all, everyone in the frame)."""
    for _, group in groupby(results, key=lambda r: r.frame.index):
        yield list(group)
