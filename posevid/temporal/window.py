"""The sliding window: each frame's state stays only until the frames that pool with it are in.

Frame t is pooled once frames t+1..t+n are in (or a cut or the end of the video comes first);
then the window drops every frame that no later frame needs, so memory is bounded by n, never by
the video's length. The warp and pool themselves are temporal.warp.warp_window.

With several people followed (--person all) each person is a lane with a window of its own
(Lanes): flow, warping and pooling never mix two people's crops, and the lanes' results are
merged back into frame order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..io.video import Frame
from ..joints import NUM_JOINTS
from ..person.roi import Roi
from .flow import flow_image, make_flow, to_heatmap
from .warp import StackPool, WindowPool, pack, warp_window

#: The lane of a run that follows one region a frame (one person, a fixed box, or none).
ONE = -1


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
    person: int | None = None                    # the tracker's id of the person this crop is for
    lane: int = ONE                              # Lanes key: the person with --person all, else ONE
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


class CropFlows:
    """The optical flow both ways between each crop and the same lane's crop of the frame before
    (same shot only), computed on the crops shrunk to `flow_size` and resampled to heatmap size:
    flow maps crop to crop, so it also makes up for the box moving between frames."""

    def __init__(self, method: str, flow_size: int, heatmap_size: int):
        self.flow = make_flow(method)
        self.flow_size, self.heatmap_size = flow_size, heatmap_size

    def link(self, prev: FrameState | None, st: FrameState, inp: np.ndarray) -> None:
        """Set prev.fwd and st.bwd from the network inputs (st's is `inp`); prev's small image is then dropped."""
        st.grey = flow_image(inp, self.flow_size)
        if prev is None or self.flow is None:
            return
        if prev.segment == st.segment and prev.grey is not None and prev.frame.index == st.frame.index - 1:
            prev.fwd = to_heatmap(self.flow(prev.grey, st.grey), self.heatmap_size)
            st.bwd = to_heatmap(self.flow(st.grey, prev.grey), self.heatmap_size)
        prev.grey = None  # its flows are done


class SlidingWindow:
    """The frames whose heatmaps are still needed, oldest first, and the pooling of those ready.

    `pool` is None without temporal pooling (n = 0: each frame is its own result); with
    `keep_stacks` each pooled frame keeps its warped window (state.stack, state.present) for
    training the pooling layer.
    """

    def __init__(self, n: int, pool: WindowPool | None, keep_stacks: bool = False, start: int = 0):
        self.n, self.pool, self.keep_stacks = n, pool, keep_stacks
        self.states: list[FrameState] = []
        self.emitted = start   # frame index of the next frame to pool
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


class Lanes:
    """One sliding window per person, and the merge of their pooled frames back into frame order.

    Frames come in order, each with the states of every person in view (add); a person absent
    from a frame has left (or a cut dropped them), so their lane is finished and flushed. A frame
    is ready once every lane it has is pooled; frames with nobody are ready at once. Every lane
    is at most n frames behind the newest frame, so memory stays bounded by n and the number of
    people in view.
    """

    def __init__(self, n: int, pool: WindowPool | None, keep_stacks: bool = False):
        self.n, self.pool, self.keep_stacks = n, pool, keep_stacks
        self.windows: dict[int, SlidingWindow] = {}
        self.frames: list[tuple[FrameState, list[FrameState]]] = []  # added, not yet handed out
        self.pooled: dict[tuple[int, int], np.ndarray] = {}            # (frame index, lane) -> map
        self.max_buffered = 0  # the most frame states held at once in any lane's window

    def add(self, head: FrameState, states: list[FrameState]) -> None:
        """A frame (head: its own state, used when nobody is in it) with one state per lane,
        heatmaps set."""
        lanes = {st.lane for st in states}
        for key in [k for k in self.windows if k not in lanes]:
            self._collect(key, final=True)
            del self.windows[key]
        for st in states:
            key = st.lane
            window = self.windows.get(key)
            if window is None:
                window = self.windows[key] = SlidingWindow(self.n, self.pool, self.keep_stacks, st.frame.index)
            window.add(st)
            self.max_buffered = max(self.max_buffered, window.max_buffered)
        self.frames.append((head, states))

    def ready(self, final: bool) -> list[tuple[FrameState, list[tuple[FrameState, np.ndarray]]]]:
        """Per frame whose people are all pooled, in order: (head, [(state, pooled H×W×J map)])."""
        for key in list(self.windows):
            self._collect(key, final)
        if final:
            self.windows.clear()
        out = []
        while self.frames:
            head, states = self.frames[0]
            keys = [(st.frame.index, st.lane) for st in states]
            if not all(k in self.pooled for k in keys):
                break
            out.append((head, [(st, self.pooled.pop(k)) for st, k in zip(states, keys, strict=True)]))
            self.frames.pop(0)
        return out

    def _collect(self, key: int, final: bool) -> None:
        for st, hm in self.windows[key].ready(final):
            self.pooled[(st.frame.index, key)] = hm
