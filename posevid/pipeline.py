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
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .choices import FLOW_METHODS, POOL_METHODS
from .errors import ConfigError, ModelError, PosevidError
from .io.video import Frame, VideoReader
from .io.writers import frame_record
from .joints import NUM_JOINTS
from .network import weights
from .network.heatmaps import peaks
from .network.runtime import PRECISION_NAMES, frozen_for_cpu, pick_device, pick_precision
from .person import roi as roi_mod
from .person.detector import PersonDetector
from .person.tracking import PersonTracker
from .streaming import Prefetch
from .temporal.flow import flow_image, make_flow, to_heatmap
from .temporal.shots import ShotDetector
from .temporal.warp import WindowPool
from .temporal.window import FrameState, Lanes
from .timing import Stopwatch


class Annotator:
    """Runs the whole method on videos. Settings are the `annotate` config section."""

    def __init__(self, settings: dict[str, Any]):
        self.s = settings
        if settings["flow"] not in FLOW_METHODS:
            raise ConfigError(f"unknown flow method {settings['flow']!r} ({', '.join(FLOW_METHODS)})")
        if settings["pool"] not in POOL_METHODS:
            raise ConfigError(f"unknown pooling {settings['pool']!r} ({', '.join(POOL_METHODS)})")
        self.device = pick_device(settings["device"])
        preset = settings["preset"]
        self.model_path = Path(settings["model"]) if settings.get("model") else weights.shipped_model(preset)
        self.net, self.pool_layer, self.meta = weights.load(self.model_path, self.device)
        # Channels-last (NHWC) convolutions: about a quarter less time a frame on a 2-core CPU
        # with the same results (benchmarks/network.py); on CUDA it suits tensor cores.
        self.net = self.net.to(memory_format=torch.channels_last)
        self.dtype = pick_precision(settings.get("precision", "auto"), self.device)
        if self.device.type == "cpu" and self.dtype != torch.float32:
            # On the CPU the weights themselves are converted (a bf16 copy of a 1 MB model):
            # about 10% faster than autocast, which casts them again at every call.
            self.net = self.net.to(self.dtype)
        if self.device.type == "cuda":
            # Every batch has the same shape, so cuDNN's one-off search for the fastest
            # convolution algorithms pays for itself within the first few batches.
            torch.backends.cudnn.benchmark = True
        if self.meta.get("arch") == "coordinate":
            raise ModelError(f"{self.model_path}: a CoordinateNet baseline; annotate needs a SpatialNet Fusion model")
        self.forward = (frozen_for_cpu(self.net, self.dtype, self.net.preset.input_size)
                        if self.device.type == "cpu" else self.net)
        self.input_size = self.net.preset.input_size
        self.heatmap_size = self.net.preset.heatmap_size
        trained = self.pool_layer.window if self.pool_layer is not None else 0
        n = settings.get("window")
        self.window = trained if n is None else int(n)
        if self.window < 0:
            raise ConfigError("--window must be 0 or more")
        if settings["flow"] == "none":
            self.window = 0
        self.pool_weights = None
        if settings["pool"] == "parametric" and self.window > 0:
            if self.pool_layer is None:
                raise ModelError(f"{self.model_path}: has no pooling layer; use --pool sum or max")
            try:
                self.pool_weights = self.pool_layer.narrowed(self.window)
            except ValueError as e:
                raise PosevidError(str(e)) from None
        self.flow_fn = make_flow(settings["flow"]) if self.window > 0 else None
        # the run's pool template: each frame pools into a fresh() copy sharing its weight images
        self.window_pool = (WindowPool(settings["pool"], self.window, self.pool_weights, joints=NUM_JOINTS)
                            if self.window > 0 else None)
        self.clock = Stopwatch()
        self.tracker: PersonTracker | None = None
        self.lanes: Lanes | None = None  # the last run's windows (their peak size is measured)
        self.everyone = False  # the last run followed every person (--person all)
        self._detector: PersonDetector | None = None
        self.cuts: list[dict[str, Any]] = []

    def describe(self) -> dict[str, Any]:
        """The model part of the output JSON."""
        return {"file": str(self.model_path), "preset": self.net.preset.name,
                "stage": self.meta.get("stage"), "iterations": self.meta.get("iterations"),
                "window_trained": self.pool_layer.window if self.pool_layer is not None else None,
                "device": str(self.device), "precision": PRECISION_NAMES[self.dtype]}

    # --- the network ---------------------------------------------------------------------------
    @torch.inference_mode()
    def heatmaps(self, inputs: list[np.ndarray]) -> torch.Tensor:
        """Fusion heatmaps (B×J×H×W) for a batch of RGB network inputs."""
        x = torch.from_numpy(np.stack(inputs)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = x.contiguous(memory_format=torch.channels_last)
        which = 0 if self.s.get("heatmap") == "spatial" else 1
        if self.device.type == "cuda":
            # Mixed precision on the GPU: fp32 weights, convolutions in fp16 or bf16 on tensor cores.
            with torch.autocast("cuda", dtype=self.dtype, enabled=self.dtype != torch.float32):
                out = self.net(x)[which]
            return out.float()
        return self.forward(x.to(self.dtype))[which].float()

    def person_detector(self) -> PersonDetector:
        """The person detector of --roi auto, loaded on first use (a --box run never needs it)."""
        if self._detector is None:
            self._detector = PersonDetector(self.s.get("detector"))
        return self._detector

    def poses(self, inputs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Joints (input pixels) and confidences of single network inputs, without temporal pooling."""
        maps = self.heatmaps(inputs).float().cpu()
        return [peaks(m, self.input_size) for m in maps]

    # --- streaming -----------------------------------------------------------------------------
    def run(self, reader: VideoReader, regions: Callable[[Frame], roi_mod.Roi | None] | None = None,
            keep_stacks: bool = False, start: int = 0,
            first_person: int = 0) -> Iterator[tuple[FrameState, dict[str, Any] | None]]:
        """Yield (state, JSON frame record) for every frame and person, in frame order.

        One record a frame, except with --person all: one a person in view (by id), or one
        no_person record when nobody is. `regions` overrides how each frame's region of interest
        is chosen (evaluation and pooling training use the labelled box); with `keep_stacks` each
        state keeps its warped window (state.stack, state.present) for training the pooling
        layer. Frames before `start` are only decoded and come back with no record (state.status
        "skipped"): a resumed run's frames that are done, before its warm-up stretch. New people
        get ids from `first_person` on.
        """
        s = self.s
        info = reader.info
        if regions is not None:
            fixed = None
        elif s.get("box") is not None:
            fixed = roi_mod.from_box(*s["box"])
        elif s["roi"] == "letterbox":
            fixed = roi_mod.letterbox(info.width, info.height)
        else:
            fixed = None
        queue_size = max(8, s["batch_size"] * 2)
        tracker = None
        if fixed is None and regions is None:
            # Poses feed back once a frame is pooled: up to the prepared queue, a batch and the
            # window's later frames behind the frame whose region is being chosen.
            lag = queue_size + s["batch_size"] + self.window
            tracker = PersonTracker(s["person"], self.person_detector(), lag=lag, fps=info.fps or 25.0,
                                    independent=info.codec == "image", first_id=first_person)
        self.tracker = tracker
        self.everyone = tracker is not None and tracker.rule == "all"
        shots = ShotDetector(s.get("cut_threshold"), s.get("max_gap"))
        self.cuts = shots.cuts
        lanes = Lanes(self.window, self.window_pool, keep_stacks)
        self.lanes = lanes
        pending: list[tuple[FrameState, list[tuple[FrameState, np.ndarray]]]] = []
        frames = Prefetch(reader.frames(), size=queue_size)
        if tracker is not None:
            def choose(frame: Frame) -> list[tuple[int | None, roi_mod.Roi]]:
                return tracker.people(frame.image, frame.index)
        else:
            def choose(frame: Frame) -> list[tuple[int | None, roi_mod.Roi]]:
                region = regions(frame) if regions is not None else fixed
                return [] if region is None else [(None, region)]
        prepared = Prefetch(self._prepare(frames, choose, shots, info.width, info.height, start), size=queue_size)
        try:
            for head, items in prepared:
                if head.status == "skipped":  # precedes every frame that is worked on
                    yield head, None
                    continue
                pending.append((head, items))
                if len(pending) >= s["batch_size"] or sum(len(i) for _, i in pending) >= s["batch_size"]:
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
            if self.flow_fn is not None:
                with self.clock("flow"):
                    for st, inp in items:
                        self._add_flows(prev.get(st.lane), st, inp)
            prev = {st.lane: st for st, _ in items}
            yield head, items

    def _ingest(self, batch: list[tuple[FrameState, list[tuple[FrameState, np.ndarray]]]], lanes: Lanes) -> None:
        """Run the network on the crops of a batch of frames (batch_size at a time) and add the frames to the lanes."""
        items = [item for _, group in batch for item in group]
        size = self.s["batch_size"]
        with self.clock("network"):
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                maps = self.heatmaps([inp for _, inp in chunk]).float().permute(0, 2, 3, 1).cpu().numpy()
                for (st, _), hm in zip(chunk, maps, strict=True):
                    st.heatmap = hm
        for head, group in batch:
            lanes.add(head, [st for st, _ in group])

    def _add_flows(self, prev: FrameState | None, st: FrameState, inp: np.ndarray) -> None:
        """Flow both ways between a crop and the same lane's crop of the frame before (same shot only),
        at heatmap size."""
        st.grey = flow_image(inp, self.s["flow_size"])
        if prev is None:
            return
        if prev.segment == st.segment and prev.grey is not None and prev.frame.index == st.frame.index - 1:
            size = self.heatmap_size
            prev.fwd = to_heatmap(self.flow_fn(prev.grey, st.grey), size)
            st.bwd = to_heatmap(self.flow_fn(st.grey, prev.grey), size)
        prev.grey = None  # its flows are done

    def _emit(self, lanes: Lanes, final: bool) -> list[tuple[FrameState, dict[str, Any]]]:
        """Pool every frame whose people's later neighbours are all in, and make its records."""
        out = []
        with self.clock("warp+pool"):
            for head, pooled in lanes.ready(final):
                if not pooled:
                    out.append((head, self._record(head, None)))
                out += [(st, self._record(st, hm)) for st, hm in pooled]
        return out

    def _record(self, t: FrameState, hm: np.ndarray | None) -> dict[str, Any]:
        """The JSON record of a frame (or one person in it) from its pooled heatmap; confident poses
        go back to the tracker."""
        if hm is not None:
            hm = np.ascontiguousarray(hm.transpose(2, 0, 1))
            t.pooled = hm
        if t.roi is None or hm is None:
            return frame_record(t.frame.index, t.frame.time, None, None, self.s["threshold"], None, t.status,
                                t.person)
        pts, conf = peaks(hm, self.input_size)
        joints = t.roi.to_frame(pts.astype(np.float64), self.input_size)
        if self.tracker is not None:
            self.tracker.feedback(joints, conf, t.frame.index, t.person if self.everyone else None)
        return frame_record(t.frame.index, t.frame.time, joints, conf, self.s["threshold"],
                            t.roi.as_xywh(), t.status, t.person)


def by_frame(results: Iterable[tuple[FrameState, dict[str, Any] | None]]
             ) -> Iterator[tuple[FrameState, list[dict[str, Any]] | None]]:
    """Annotator.run's results a frame at a time: (first state of the frame, its records), or
    (state, None) for a frame only decoded (before a resumed run's warm-up)."""
    for _, group in groupby(results, key=lambda r: r[0].frame.index):
        items = list(group)
        records = [rec for _, rec in items if rec is not None]
        yield items[0][0], records or None


def overlay_image(image: np.ndarray, records: list[dict[str, Any]], show_box: bool, ids: bool = False) -> np.ndarray:
    """A copy of the frame with its records' skeletons (and regions, if asked) drawn on it; with
    `ids` (--person all) each person in their own colour with their id."""
    from .io.writers import draw_people  # noqa: PLC0415

    return draw_people(image.copy(), records, show_box, ids)
