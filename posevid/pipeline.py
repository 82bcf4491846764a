"""Frames to joints, streamed: the wiring of decode → crop → network → flow → warp and pool → joints.

Three threads joined by bounded queues: decoding; preparing (finding the person, cropping,
shot cuts and the optical flow between consecutive crops, which needs no heatmaps); and
the network with the warping and pooling. Drawing and encoding run in a fourth (annotate).
PyAV, OpenCV and torch release the GIL, so on two cores the slowest stage, not the sum,
sets the pace. A frame's state stays in a sliding window only until frame t+n has been
pooled, so memory is bounded by the window, never by the video's length. The pipeline
module only wires the modules that do the work together.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .config import AnnotateSettings
from .io.video import Frame, VideoReader
from .io.writers import frame_record
from .network.heatmaps import peaks
from .network.runtime import PoseNetwork
from .person import roi as roi_mod
from .person.detector import PersonDetector
from .person.tracking import PersonTracker
from .result import PoseResult
from .streaming import Prefetch
from .temporal.shots import LAYOUT_CORRELATION, ShotDetector
from .temporal.warp import run_pool
from .temporal.window import CropFlows, FrameState, Lanes
from .timing import Stopwatch


class Annotator:
    """Runs the whole method on videos with the given settings (config.annotate_settings)."""

    def __init__(self, settings: AnnotateSettings):
        self.s = settings
        self.network = PoseNetwork(settings.model, settings.preset, settings.device,
                                   settings.precision, settings.heatmap, settings.flip)
        self.model_path, self.pool_layer = self.network.path, self.network.pool_layer
        self.input_size, self.heatmap_size = self.network.input_size, self.network.heatmap_size
        trained = self.pool_layer.window if self.pool_layer is not None else 0
        # n: frames t-n..t+n pool into t; by default the window the pooling layer was trained for
        self.window = 0 if settings.flow == "none" else trained if settings.window is None else settings.window
        self.window_pool = run_pool(settings.pool, self.window, self.pool_layer, self.model_path)
        self.flows = CropFlows(settings.flow, settings.flow_size, self.heatmap_size) if self.window > 0 else None
        self.clock = Stopwatch()
        self.tracker: PersonTracker | None = None
        self.lanes: Lanes | None = None  # the last run's windows (their peak size is measured)
        self.everyone = False  # the last run followed every person (--person all)
        self._detector: PersonDetector | None = None
        self.cuts: list[dict[str, Any]] = []

    def describe(self) -> dict[str, Any]:
        """The model part of the output JSON."""
        return self.network.describe()

    def person_detector(self) -> PersonDetector:
        """The person detector of --roi auto, loaded on first use (a --box run never needs it)."""
        if self._detector is None:
            self._detector = PersonDetector(self.s.detector, flip=self.s.flip, precision=self.s.precision)
        return self._detector

    def reframe(self, rgb: np.ndarray, box: roi_mod.Roi) -> roi_mod.Roi | None:
        """The crop rule's box (roi.body_box) from this network's head and shoulders on `box`:
        how the tracker frames a small person (tracking.REFINE_BELOW), whom the
        detector's coarse grid boxes loosely. None when the pose gives no box."""
        (joints, _), = self.network.poses([roi_mod.crop(rgb, box, self.input_size)])
        return roi_mod.body_box(box.to_frame(joints, self.input_size), np.ones(len(joints), bool))

    def judge(self, rgb: np.ndarray, boxes: list[roi_mod.Roi]) -> list[float]:
        """This network's mean joint confidence on each box, in one batch: how well it reads a
        person there, by which --person main weighs the people it chooses among
        (tracking.POSE_POWER)."""
        poses = self.network.poses([roi_mod.crop(rgb, b, self.input_size) for b in boxes])
        return [float(c.mean()) for _, c in poses]

    # --- streaming -----------------------------------------------------------------------------
    def run(self, reader: VideoReader, regions: Callable[[Frame], roi_mod.Roi | None] | None = None,
            keep_stacks: bool = False, start: int = 0,
            first_person: int = 0) -> Iterator[PoseResult]:
        """Yield a PoseResult for every frame and person, in frame order.

        One a frame, except with --person all: one a person in view (by id), or one no_person
        result when nobody is. `regions` overrides how each frame's region of interest
        is chosen (evaluation and pooling training use the labelled box); with `keep_stacks` each
        result keeps its warped window (stack, present) for training the pooling layer. Frames
        before `start` are only decoded and come back with no record (status "skipped"): a
        resumed run's frames that are done, before its warm-up stretch. New people
        get ids from `first_person` on.
        """
        s = self.s
        info = reader.info
        fixed = None if regions is not None else roi_mod.fixed_region(s.box, s.roi, info.width, info.height)
        queue_size = max(8, s.batch_size * 2)
        tracker = None
        if fixed is None and regions is None:
            # Poses feed back once a frame is pooled: up to the prepared queue, a batch and the
            # window's later frames behind the frame whose region is being chosen.
            lag = queue_size + s.batch_size + self.window
            tracker = PersonTracker(s.person, self.person_detector(), lag=lag, fps=info.fps or 25.0,
                                    independent=info.codec == "image", first_id=first_person,
                                    reframe=self.reframe, judge=self.judge)
        self.tracker = tracker
        self.everyone = tracker is not None and tracker.rule == "all"
        # cut_threshold 0 turns every content test off (the layout's too); max_gap is its own
        shots = ShotDetector(s.cut_threshold, s.max_gap, layout=LAYOUT_CORRELATION if s.cut_threshold else None)
        self.cuts = shots.cuts
        lanes = Lanes(self.window, self.window_pool, keep_stacks)
        self.lanes = lanes
        pending: list[tuple[FrameState, list[tuple[FrameState, np.ndarray]]]] = []
        frames = Prefetch(reader.frames(), size=queue_size)
        def choose(frame: Frame) -> list[tuple[int | None, roi_mod.Roi]]:
            if tracker is not None:
                return tracker.people(frame.image, frame.index)
            region = regions(frame) if regions is not None else fixed
            return [] if region is None else [(None, region)]
        prepared = Prefetch(self._prepare(frames, choose, shots, info.width, info.height, start), size=queue_size)
        try:
            for head, items in prepared:
                if head.status == "skipped":  # precedes every frame that is worked on
                    yield PoseResult(head.frame, "skipped", None, None, None, None, None, None)
                    continue
                pending.append((head, items))
                if len(pending) >= s.batch_size or sum(len(i) for _, i in pending) >= s.batch_size:
                    self._ingest(pending, lanes)
                    pending = []
                    yield from self._emit(lanes, final=False)
            if pending:
                self._ingest(pending, lanes)
            yield from self._emit(lanes, final=True)
        finally:
            prepared.close()
            frames.close()

    def _prepare(self, frames: Iterable[Frame], choose: Callable[[Frame], list[tuple[int | None, roi_mod.Roi]]],
                 shots: ShotDetector, width: int, height: int,
                 start: int = 0) -> Iterator[tuple[FrameState, list[tuple[FrameState, np.ndarray]]]]:
        """Per frame, in the preparation thread: (the frame's own state, [(state, network input)]
        per person). Each person's region, crop and the flows between this crop and the same
        person's previous one (set on both states before this frame is handed on, so the network
        thread always finds a frame's flows in place); the shot, from the one crop a frame, or
        with --person all from the whole frame. Following one region, a frame with nobody still
        gets a state (its letterbox crop keeps the window whole); with --person all it gets none."""
        prev: dict[int, FrameState] = {}
        whole = roi_mod.letterbox(width, height)
        for frame in frames:
            if frame.index < start:
                yield FrameState(frame, None, status="skipped"), []
                continue
            with self.clock("crop"):
                people = choose(frame)
                if self.everyone:
                    shot_input = roi_mod.crop(frame.image, whole, self.input_size)
                    segment = shots.update(shot_input, frame.time, frame.index)
                    head = FrameState(frame, None, segment=segment, status="ok" if people else "no_person")
                    items = []
                    for person, region in people:
                        st = FrameState(frame, region, segment=segment, person=person, lane=person)
                        items.append((st, roi_mod.crop(frame.image, region, self.input_size)))
                else:
                    person, region = people[0] if people else (None, None)
                    head = FrameState(frame, region, status="ok" if region is not None else "no_person", person=person)
                    inp = roi_mod.crop(frame.image, region or whole, self.input_size)
                    head.segment = shots.update(inp, frame.time, frame.index)
                    items = [(head, inp)]
            if self.flows is not None:
                with self.clock("flow"):
                    for st, inp in items:
                        self.flows.link(prev.get(st.lane), st, inp)
            prev = {st.lane: st for st, _ in items}
            yield head, items

    def _ingest(self, batch: list[tuple[FrameState, list[tuple[FrameState, np.ndarray]]]], lanes: Lanes) -> None:
        """Run the network on the crops of a batch of frames (batch_size at a time) and add the frames to the lanes."""
        items = [item for _, group in batch for item in group]
        size = self.s.batch_size
        with self.clock("network"):
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                maps = self.network.heatmaps([inp for _, inp in chunk]).float().permute(0, 2, 3, 1).cpu().numpy()
                for (st, _), hm in zip(chunk, maps, strict=True):
                    st.heatmap = hm
        for head, group in batch:
            lanes.add(head, [st for st, _ in group])

    def _emit(self, lanes: Lanes, final: bool) -> list[PoseResult]:
        """Pool every frame whose people's later neighbours are all in, and make its results."""
        out = []
        with self.clock("warp+pool"):
            for head, pooled in lanes.ready(final):
                if not pooled:
                    out.append(self._result(head, None))
                out += [self._result(st, hm) for st, hm in pooled]
        return out

    def _result(self, t: FrameState, hm: np.ndarray | None) -> PoseResult:
        """A frame's (or one person's) result from its pooled heatmap; confident poses go back to the tracker."""
        joints = conf = visible = None
        if hm is not None:
            hm = np.ascontiguousarray(hm.transpose(2, 0, 1))
        if t.roi is not None and hm is not None:
            pts, conf = peaks(hm, self.input_size)
            joints = t.roi.to_frame(pts.astype(np.float64), self.input_size)
            visible = conf >= self.s.threshold
            if self.tracker is not None:
                self.tracker.feedback(joints, conf, t.frame.index, t.person if self.everyone else None)
        box = t.roi.as_xywh() if t.roi is not None and hm is not None else None
        record = frame_record(t.frame.index, t.frame.time, joints, conf, self.s.threshold, box, t.status, t.person)
        return PoseResult(t.frame, t.status, t.person, t.roi if box is not None else None, joints, conf, visible,
                          record, hm, t.stack, t.present)
