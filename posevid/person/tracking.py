"""Following people: the region of interest of every frame when no --box is given.

The trained person detector (detector.py) runs on the whole frame every DETECT_EVERY frames
while someone is followed, and ever more rarely while nobody is in view. Each person it finds
is a track with an id that persists: a detection joins the track whose box it overlaps most
(or whose centre it is near, at a like size), else it starts a new track. A track that no
detection and no confident pose has seen for HOLD_SECONDS (or no detection for
POSE_HOLD_SECONDS) is dropped, so a person who is hidden for a moment keeps their id and one
who leaves loses it. A shot cut (the whole frame's colours or layout change at once,
temporal/shots.py) drops every track: the boxes of another shot frame nobody. A track whose own
box suddenly shows something else (BOX_CHANGE: a cut the whole frame hides) makes the detector
look at once, and is dropped if nobody is found there.

Between detections each box moves on at the velocity its detections showed, so that people who
pass each other, one hidden behind the other for a moment, are matched again to their own
tracks. A confident pose of the followed person vouches that they are still there (the
detector may miss a person for a while: turned away, blurred); poses arrive a pipeline's depth
(`lag` frames) after the frame whose region was chosen, and every hold allows for that delay.
Poses do not move the box: they are that many frames old, and when they arrive depends on
the threads' timing (tried: refining the box of a still person by its pose gave 84.5 against
84.3 on held-out video, and outputs that changed from run to run under load).
A small person's box (REFINE_BELOW) is framed again, at once, from the pose the network finds on
the detector's box in the same frame (nothing lags there): in a photo the box it gives, in a video
each detection, before it joins its track.

--person chooses whom to follow among the tracks: the largest (by body scale), the one nearest
the frame's centre, the main one (the detector's confidence, size and nearness to the centre
together: `prominence`, weighed by how well the pose network reads each of them: POSE_POWER),
or the N-th from the left; once chosen, a person is followed by id until
they are lost, so the choice does not jump between people who pass each other. `--person all`
follows every track: each is a lane of its own through the pipeline (pipeline.py).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..choices import valid_person
from ..temporal.shots import ShotDetector, box_thumbnail, correlation
from .detector import Detection, PersonDetector, iou, reading_side
from .roi import Roi

#: While someone is followed, the detector looks again this often (frames): it corrects the
#: box's drift and size and keeps every other person's track fresh. Measured cost in
#: benchmarks/results/detector.md.
DETECT_EVERY = 8
#: With nobody followed, each fruitless detection doubles the wait before the next, up to this
#: many frames, so long stretches without anyone (graphics, empty studio) cost little.
DETECT_IDLE_MAX = 32
#: A track is held this long after its last detection, or its last confident pose (plus the
#: pipeline's lag), before the person counts as gone: long enough for one person to pass behind
#: another (tests/test_tracking.py), and never fewer than three detections' worth of frames.
HOLD_SECONDS = 1.6
#: How far a new detection moves a followed box (the detector is right per frame; this only
#: steadies the box between detections).
DETECTION_WEIGHT = 0.6
#: How much a new measurement of a track's velocity (between two detections) counts.
VELOCITY_WEIGHT = 0.5
#: Whole-frame histogram distance that is a shot cut (the pipeline's default cut threshold).
CUT_DISTANCE = 0.5
#: A track whose place changes all at once (the correlation of grey thumbnails of its box in
#: consecutive frames, shots.box_thumbnail, below this) makes the detector look again in that
#: frame, and is dropped if the detector finds nobody there: a slideshow of photos over like
#: backdrops, or a person replaced in a cut that leaves the rest of the frame alike, where the
#: whole-frame test sees no cut and the old box would be followed for the whole hold. Measured:
#: the labelled person's box in 9,787 consecutive-frame pairs of the teacher-labelled clips
#: (handheld, dance, sport, several people) correlates 0.395 or more (99.9% above 0.73); in held-out
#: LSP photos shown small in 1280×720 one a frame, 97% of changes fall below it, among them 4 of
#: the 7 frames the tracker framed wrongly.
BOX_CHANGE = 0.35
#: A pose vouches for a track at most this long after the detector last saw it: the pose network
#: also answers on a crop the person has left (a ghost that would hold the box forever, and
#: with it --person largest's choice, while the detector finds the person elsewhere).
POSE_HOLD_SECONDS = 4.0
#: Pose feedback: a mean confidence of head and shoulders this high vouches that the person is still there.
FEEDBACK_CONFIDENCE = 0.3
#: In a photo (independent frames) where nobody scores the detector's threshold, its best
#: detection at least this high is taken: a user gives a photo because someone is in it. On
#: held-out LSP photos 21 of 127 had no detection at 0.3 and most of them their person at 0.15-0.3.
PHOTO_THRESHOLD = 0.15
#: A detection joins a track when their boxes overlap at least this much (IoU), or when its
#: centre is within NEAR of the track's side and its side within SIZE_RATIO of the track's.
MATCH_IOU = 0.3
NEAR = 0.5
#: --person main: a person's prominence is score × sqrt(side / short side of the frame) ×
#: exp(-CENTRE_WEIGHT × distance from the frame's centre / short side). Chosen on LSP *training*
#: photos 401-2400 (1,307 with a crop-rule box; the held-out photos were not looked at): the box
#: the rule picks overlaps the labelled one (IoU >= 0.5) in 77.4% of them, against 73.1% for
#: largest, 72.9% for the top score and 83.5% for the best candidate; flat for weights 1-3 and
#: powers 0.25-1. Without the centre term 74.9%.
CENTRE_WEIGHT = 2.0
SIZE_POWER = 0.5
SIZE_RATIO = 1.6
#: A person whose box is under this many pixels at the detector's reading
#: (detector.DET_SIZE on the long side: under 10 cells of its 8-pixel grid) is framed again by
#: the crop rule from the pose network's own head and shoulders on the detector's box. The grid
#: frames small people loosely: on LSP *training* photos 401-1400 placed at native size in
#: 1280×720 (boxes of 24-72 px at the reading) this took upper-body PCK@0.2 from 36.7 to 40.2,
#: while on the same photos as they are (boxes of 100 px or more there) it gave 45.3 against
#: 45.9, so large boxes keep the detector's framing. Held-out (benchmarks/accuracy.py), photos
#: small in 1280×720 36.0 -> 37.4, photos as they are 47.9 -> 48.0. In video each detection of a
#: small person is framed again before it joins its track: the same training photos, wide, as one
#: 10 fps video 40.0 -> 43.7; training clips with small people (sports2d, streets, a gym) and
#: held-out pose2sim cam04 unchanged (within 0.1).
REFINE_BELOW = 80
#: --person main, choosing among several people: each one's prominence is multiplied by the pose
#: network's mean joint confidence on their box to this power (a person whose pose the network
#: reads is more likely the one the picture is of than a poster, a lamp or a bystander cut by the
#: frame's edge). Chosen on LSP *training* photos 401-1000 placed at native size in 1280×720
#: (389 photos; held-out photos not looked at): upper-body PCK@0.2 45.4 by prominence alone,
#: 48.8 with the power 1, 49.1 with 2, 51.6 for an oracle that takes the best candidate; on
#: training photos 401-800 as they are 54.2, 54.7 and 54.6 (oracle 56.3).
POSE_POWER = 1.0
#: At most this many of the most prominent people are weighed by their pose (one network batch).
JUDGED = 6


@dataclass
class Track:
    """One person followed over frames."""

    id: int
    roi: Roi
    score: float
    found: int   # frame index of the first detection
    seen: int    # frame index of the last detection
    posed: int = -(10**9)  # frame index of the last pose that vouched for the person
    at: int = 0  # frame index the box is for
    centre: tuple[float, float] = (0.0, 0.0)  # the last detection's box centre
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels a frame, from successive detections
    thumb: np.ndarray | None = None  # what the box held at the end of the last update (BOX_CHANGE)

    def advance(self, index: int) -> None:
        """Move the box on to frame `index` at the track's velocity."""
        k = index - self.at
        if k > 0:
            r = self.roi
            self.roi = Roi(r.x + k * self.velocity[0], r.y + k * self.velocity[1], r.side)
            self.at = index

    def detected(self, d: Detection, index: int) -> None:
        """Take a new detection of this person: update velocity, box and when last seen."""
        c = d.roi.centre
        gap = index - self.seen
        if gap > 0:
            measured = ((c[0] - self.centre[0]) / gap, (c[1] - self.centre[1]) / gap)
            a = VELOCITY_WEIGHT
            self.velocity = ((1 - a) * self.velocity[0] + a * measured[0], (1 - a) * self.velocity[1] + a * measured[1])
        self.advance(index)
        self.roi, self.score, self.seen, self.centre = _blend(self.roi, d.roi, DETECTION_WEIGHT), d.score, index, c


def choose(tracks: list[Track], rule: str, width: int, height: int) -> Track | None:
    """Pick one track by the --person rule: largest (body scale), center, main (prominence), or N
    (N-th from the left, from 0)."""
    if not tracks:
        return None
    if rule == "largest":
        return max(tracks, key=lambda t: t.roi.side)
    if rule == "center":
        return min(tracks, key=lambda t: math.dist(t.roi.centre, (width / 2, height / 2)))
    if rule == "main":
        return max(tracks, key=lambda t: prominence(t.roi, t.score, width, height))
    order = sorted(tracks, key=lambda t: t.roi.centre[0])
    k = int(rule)
    return order[k] if k < len(order) else None


def prominence(roi: Roi, score: float, width: int, height: int) -> float:
    """How much a person looks like the one a picture is of (--person main): the detector's
    confidence, the box's size and its nearness to the frame's centre (CENTRE_WEIGHT)."""
    short = max(1, min(width, height))
    off = math.dist(roi.centre, (width / 2, height / 2)) / short
    return score * (roi.side / short) ** SIZE_POWER * math.exp(-CENTRE_WEIGHT * off)


def _fit(d: Roi, t: Roi) -> float:
    """How well a detection fits a track: its IoU, or a small positive score when it is near at a
    like size (a fast move leaves little overlap), else 0."""
    overlap = iou(d, t)
    if overlap >= MATCH_IOU:
        return overlap
    dc = math.dist(d.centre, t.centre)
    ratio = max(d.side, t.side) / max(1e-6, min(d.side, t.side))
    return 0.01 if dc <= NEAR * t.side and ratio <= SIZE_RATIO else 0.0


class PersonTracker:
    """Tracks every person the detector finds and gives the region of the chosen one, frame by frame."""

    def __init__(self, rule: str = "largest", detector: PersonDetector | None = None, lag: int = 0,
                 fps: float = 25.0, independent: bool = False, first_id: int = 0,
                 reframe: Callable[[np.ndarray, Roi], Roi | None] | None = None,
                 judge: Callable[[np.ndarray, list[Roi]], list[float]] | None = None):
        """`independent`: every frame is a photo of its own (a folder of images), so people are
        found afresh in each and nothing is carried from one to the next. `first_id`: the id of the
        first new track (a resumed run continues above the ids it has written). `reframe(rgb, box)`:
        the crop rule's box from a pose on `box` (the pipeline's network), for small people
        (REFINE_BELOW). `judge(rgb, boxes)`: the pose network's mean joint confidence on each box, by
        which --person main weighs the people it chooses among (POSE_POWER)."""
        if not valid_person(rule):
            raise ValueError(f"--person must be largest, center, main or a number, not {rule!r}")
        self.rule = str(rule)
        self.detector = detector if detector is not None else PersonDetector()
        self.lag = lag
        self.independent = independent
        self.reframe = reframe
        self.judge = judge
        self.hold = max(3 * DETECT_EVERY, round(HOLD_SECONDS * fps))  # frames
        self.pose_hold = max(self.hold, round(POSE_HOLD_SECONDS * fps))
        self.tracks: list[Track] = []
        self.chosen: int | None = None   # id of the followed track
        self._next_id = first_id
        self._last_detect = -(10**9)
        self._idle_every = DETECT_EVERY
        # region() runs in the pipeline's preparation thread, feedback() in the network thread
        self._lock = threading.Lock()
        # cuts of the whole frame (the pipeline's detector sees only the crop this tracker chooses)
        self._shots = ShotDetector(CUT_DISTANCE, None)
        self._cut_at = -(10**9)

    # --- the followed person --------------------------------------------------------------------
    def _followed(self) -> Track | None:
        return next((t for t in self.tracks if t.id == self.chosen), None)

    @property
    def next_id(self) -> int:
        """The id the next new track will get: every id so far is below it."""
        return self._next_id

    def feedback(self, joints: np.ndarray, confidence: np.ndarray, index: int, person: int | None = None) -> None:
        """Let a confident pose (head and shoulders) of frame `index` vouch that a person (the
        followed one by default) is still there. The pose does not move the box: it is `lag`
        frames old, and when it arrives depends on the threads' timing, which must not change a
        run's output."""
        if float(confidence[:3].mean()) < FEEDBACK_CONFIDENCE:
            return
        with self._lock:
            t = self._followed() if person is None else next((t for t in self.tracks if t.id == person), None)
            if t is None or index < self._cut_at or index < t.found:  # a pose of a shot or person before
                return
            t.posed = max(t.posed, index)

    # --- every frame ----------------------------------------------------------------------------
    def update(self, rgb: np.ndarray, index: int) -> list[Track]:
        """Bring the tracks up to this frame (detecting when it is time) and return them."""
        if self.independent or self._cut(rgb, index):
            with self._lock:
                self.tracks, self.chosen, self._cut_at = [], None, index
            self._last_detect, self._idle_every = -(10**9), DETECT_EVERY
        with self._lock:
            for t in self.tracks:
                t.advance(index)
            changed = self._changed(rgb)
        every = DETECT_EVERY if self.tracks else self._idle_every
        if changed or index - self._last_detect >= every:
            self._last_detect = index
            if self.independent:
                # A photo is given because someone is in it: with nobody at the detector's threshold,
                # its most likely person, if any is likely at all (one reading for both).
                # --person main weighs every candidate's score itself, so it sees them all.
                candidates = self.detector(rgb, PHOTO_THRESHOLD)
                found = (candidates if self.rule == "main" else
                         [d for d in candidates if d.score >= self.detector.threshold] or candidates[:1])
            else:
                found = [Detection(self._reframed(rgb, d.roi), d.score) for d in self.detector(rgb)]
            with self._lock:
                self._associate(found, index)
            if not self.tracks:
                self._idle_every = min(2 * every, DETECT_IDLE_MAX)
        with self._lock:
            self.tracks = [t for t in self.tracks
                           if index <= min(max(t.seen, t.posed + self.lag) + self.hold, t.seen + self.pose_hold)
                           and not (t.id in changed and t.seen != index)]
            for t in self.tracks if not self.independent else ():
                if t.thumb is None or t.seen == index:  # new, or its box moved by a detection since _changed
                    t.thumb = box_thumbnail(rgb, t.roi.x, t.roi.y, t.roi.side)
            return list(self.tracks)

    def _changed(self, rgb: np.ndarray) -> set[int]:
        """Ids of the tracks whose box shows something else than in the last frame (BOX_CHANGE);
        each track's thumbnail becomes this frame's."""
        out = set()
        for t in self.tracks:
            now = box_thumbnail(rgb, t.roi.x, t.roi.y, t.roi.side)
            if t.thumb is not None and now is not None and correlation(now, t.thumb) < BOX_CHANGE:
                out.add(t.id)
            t.thumb = now
        return out

    def region(self, rgb: np.ndarray, index: int) -> Roi | None:
        """The followed person's box for this frame (chosen by the --person rule when nobody is)."""
        found = self.people(rgb, index)
        return found[0][1] if found else None

    def people(self, rgb: np.ndarray, index: int) -> list[tuple[int, Roi]]:
        """(id, box) of every person this frame's regions are for: each track, by id, with
        --person all; else the followed one (chosen by the --person rule when nobody is), or none."""
        tracks = self.update(rgb, index)
        if self.rule == "all":
            return [(t.id, self._photo_box(rgb, t.roi)) for t in sorted(tracks, key=lambda t: t.id)]
        with self._lock:
            t = self._followed()
        if t is not None:
            return [(t.id, self._photo_box(rgb, t.roi))]
        # the network runs outside the lock: the network thread's feedback() takes it
        t, box = self._choose(rgb, tracks)
        with self._lock:
            self.chosen = None if t is None else t.id
        return [] if t is None or box is None else [(t.id, box)]

    def _choose(self, rgb: np.ndarray, tracks: list[Track]) -> tuple[Track | None, Roi | None]:
        """The person to follow by the --person rule, and their box for this frame; --person main
        among several weighs each one's prominence by the pose network's confidence on their box."""
        h, w = rgb.shape[:2]
        if self.rule != "main" or self.judge is None or len(tracks) < 2:
            t = choose(tracks, self.rule, w, h)
            return t, None if t is None else self._photo_box(rgb, t.roi)
        ranked = sorted(((prominence(t.roi, t.score, w, h), t) for t in tracks), key=lambda pt: pt[0],
                        reverse=True)[:JUDGED]
        boxes = [self._photo_box(rgb, t.roi) for _, t in ranked]
        read = self.judge(rgb, boxes)
        k = int(np.argmax([p * max(c, 1e-6) ** POSE_POWER for (p, _), c in zip(ranked, read, strict=True)]))
        return ranked[k][1], boxes[k]

    def _photo_box(self, rgb: np.ndarray, box: Roi) -> Roi:
        """In a photo, a small person's box framed again from their pose (in a video each detection
        was, in update())."""
        return self._reframed(rgb, box) if self.independent else box

    def _reframed(self, rgb: np.ndarray, box: Roi) -> Roi:
        return reframed(rgb, box, self.reframe)

    def _associate(self, found: list[Detection], index: int) -> None:
        """Greedy matching, best fit first: each detection joins at most one track and each track
        takes at most one detection; the rest start new tracks."""
        pairs = sorted(((_fit(d.roi, t.roi), i, k) for i, d in enumerate(found)
                        for k, t in enumerate(self.tracks)), reverse=True)
        used_d: set[int] = set()
        used_t: set[int] = set()
        for fit, i, k in pairs:
            if fit <= 0:
                break
            if i in used_d or k in used_t:
                continue
            used_d.add(i)
            used_t.add(k)
            self.tracks[k].detected(found[i], index)
        for i, d in enumerate(found):
            if i not in used_d:
                self.tracks.append(Track(self._next_id, d.roi, d.score, index, index, at=index, centre=d.roi.centre))
                self._next_id += 1

    def _cut(self, rgb: np.ndarray, index: int) -> bool:
        """Whether this frame starts a new shot of the whole frame (shots.ShotDetector, gaps off)."""
        before = self._shots.segment
        return self._shots.update(rgb, 0.0, index) != before


def reframed(rgb: np.ndarray, box: Roi, reframe: Callable[[np.ndarray, Roi], Roi | None] | None) -> Roi:
    """A small person's box framed again from their pose in this frame (REFINE_BELOW) by
    `reframe` (the pipeline's network); else `box`. Also how training frames its photos shown
    small in wide frames (train/framing.py), so that both follow the one rule."""
    if reframe is None or reading_side(box, rgb.shape) >= REFINE_BELOW:
        return box
    return reframe(rgb, box) or box


def _blend(a: Roi, b: Roi, k: float) -> Roi:
    c = (1 - k) * np.array(a.centre) + k * np.array(b.centre)
    return Roi.centred(c[0], c[1], (1 - k) * a.side + k * b.side)
