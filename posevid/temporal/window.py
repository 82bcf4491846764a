"""The sliding window: each frame's state stays only until the frames that pool with it are in.

Frame t is pooled once frames t+1..t+n are in (or a cut or the end of the video comes first);
then the window drops every frame that no later frame needs, so memory is bounded by n, never by
the video's length. The warp and pool themselves are temporal.warp.warp_window.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..io.video import Frame
from ..joints import NUM_JOINTS
from ..person.roi import Roi
from .warp import StackPool, WindowPool, pack, warp_window


@dataclass
class FrameState:
    """What the sliding window keeps of one frame until its neighbours are done with it."""

    frame: Frame
    roi: Roi | None
    heatmap: np.ndarray | None = None            # H×W×J float32 (fusion output)
    grey: np.ndarray | None = None               # small grey input for flow
    fwd: np.ndarray | None = None                # flow to the next frame, H×W×2
    bwd: np.ndarray | None = None                # flow to the previous frame, H×W×2
    segment: int = 0                             # shot index: never pool across segments
    status: str = "ok"
    pooled: np.ndarray | None = None             # J×H×W pooled heatmap, once the frame is emitted
    stack: torch.Tensor | None = None            # (2n+1)×J×H×W warped window (fp16), with run(keep_stacks=True)
    present: torch.Tensor | None = None          # (2n+1) slots of that window present, 0/1
    packed: np.ndarray | None = None             # temporal.pack of heatmap and flows, once built
    packed_flows: tuple[bool, bool] = (False, False)  # which flows the pack holds

    def pack(self) -> np.ndarray:
        """The frame packed for warping; rebuilt when a flow has arrived since."""
        have = (self.fwd is not None, self.bwd is not None)
        if self.packed is None or have != self.packed_flows:
            self.packed_flows = have
            self.packed = pack(self.heatmap, self.fwd, self.bwd)
        return self.packed


class SlidingWindow:
    """The frames whose heatmaps are still needed, oldest first, and the pooling of those ready.

    `pool` is None without temporal pooling (n = 0: each frame is its own result); with
    `keep_stacks` each pooled frame keeps its warped window (state.stack, state.present) for
    training the pooling layer.
    """

    def __init__(self, n: int, pool: WindowPool | None, keep_stacks: bool = False):
        self.n, self.pool, self.keep_stacks = n, pool, keep_stacks
        self.states: list[FrameState] = []
        self.emitted = 0       # frame index of the next frame to pool
        self.max_buffered = 0  # the most frames held at once

    def skip(self, index: int) -> None:
        """Frames up to `index` are not worked on (a resumed run's finished part)."""
        self.emitted = index + 1

    def add(self, st: FrameState) -> None:
        """A frame with its heatmap (and its flows, set when it was prepared)."""
        self.states.append(st)
        self.max_buffered = max(self.max_buffered, len(self.states))

    def ready(self, final: bool) -> list[tuple[FrameState, np.ndarray]]:
        """(state, pooled H×W×J map) of every frame whose later neighbours are all in (all of them
        when `final`), in order; frames no later frame needs are dropped."""
        window, n = self.states, self.n
        ready: list[int] = []  # positions in the window of the frames to pool, in order
        while window:
            k = self.emitted + len(ready) - window[0].frame.index
            if k >= len(window):
                break
            t = window[k]
            later = window[k + 1 : k + 1 + n]
            if not (final or len(later) == n or (later and later[-1].segment != t.segment)):
                break
            ready.append(k)
        if not ready:
            return []
        out = list(zip((window[k] for k in ready), self._pooled(ready), strict=True))
        drop = ready[-1] + 1 - n  # frames before the next frame's window
        if drop > 0:
            self.states = window[drop:]
        self.emitted += len(ready)
        return out

    def reach(self, k: int) -> tuple[int, int]:
        """How many later and how many earlier neighbours of frame states[k] are pooled: a
        neighbour counts only if it is in the same shot and every flow on the way to it exists."""
        window, t, n = self.states, self.states[k], self.n
        out = []
        for states, attr in ((window[k + 1 : k + 1 + n], "fwd"), (window[max(0, k - n) : k][::-1], "bwd")):
            count, prev = 0, t
            for st in states:
                if st.segment != t.segment or getattr(prev, attr) is None:
                    break
                count, prev = count + 1, st
            out.append(count)
        return out[0], out[1]

    def _pooled(self, ready: list[int]) -> list[np.ndarray]:
        """The pooled H×W×J heatmaps of the frames states[k], k in ready."""
        window = self.states
        if self.pool is None:
            return [window[k].heatmap for k in ready]
        n = self.n
        lo, hi = max(0, ready[0] - n), min(len(window), ready[-1] + n + 1)
        packs = [st.pack() for st in window[lo:hi]]
        reach = [self.reach(k) for k in ready]
        frames = [k - lo for k in ready]
        if not self.keep_stacks:
            return warp_window(packs, frames, reach, NUM_JOINTS, self.pool)
        # training the pooling layer: each frame keeps its stack, pooled here as inference would
        maps = []
        stacks = warp_window(packs, frames, reach, NUM_JOINTS, StackPool(n, NUM_JOINTS))
        for k, (stack, present) in zip(ready, stacks, strict=True):
            window[k].stack = torch.from_numpy(stack).permute(0, 3, 1, 2).half()
            window[k].present = torch.from_numpy(present)
            pool = self.pool.fresh()
            for slot in np.flatnonzero(present):
                pool.add(int(slot), stack[slot])
            maps.append(pool.result())
        return maps
