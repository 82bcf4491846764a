"""Finding and following the person: the region of interest for every frame when no --box is given.

Detection uses OpenCV's bundled frontal-face cascades (ship with opencv, no download): a
face found by the default cascade counts only when a second, differently trained cascade
(alt2) confirms it, which removes most false faces in textured backgrounds;
the face's size gives the body scale, and the upper-body box is derived with the same
rule as training crops (roi.from_joints). The box is smoothed over time and the face is
re-detected every few frames; between detections, and when the face is lost, the last
box is held for a while before the frame is reported as having no person. A confident
pose (head and shoulders) feeds back into the box and vouches for it, so a person who turns
away from the camera is still followed, and while poses vouch, faces are looked for rarely.
Poses arrive a pipeline's depth (`lag` frames) after the frame whose region was chosen, and
every hold allows for that delay. When no face is found at all (faces turned away, blurred, too
small), the pose network itself scans the frame in overlapping squares at a few scales and
takes the square where it is most confident of a head and shoulders.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np

from .choices import valid_person
from .roi import BOX_DROP, BOX_SIDE, Roi, crop, from_joints
from .shots import ShotDetector

#: A pose function: a list of network inputs -> per input (7×2 joints in input pixels, 7 confidences).
PoseFn = Callable[[list[np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]

#: While a face alone keeps the box on the person, faces are looked for this often (frames);
#: near someone whose face is not found (the pose scan found them), each fruitless search
#: doubles the wait, up to NEAR_EVERY_MAX (further apart, pose2sim cam04 lost a third of
#: its shoulders PCK: a face found late after a scan find is what frames the person well).
REDETECT_EVERY = 5
NEAR_EVERY_MAX = 10
#: With nobody followed, each fruitless full-frame search doubles the wait before the next, up to
#: this many frames: a full-frame search is the dearest step (65 ms at 640×360, 0.4 s at 720p),
#: and long stretches without anyone (graphics, empty studio) should cost little.
REDETECT_IDLE_MAX = 40
#: While confident poses move the box with the person, faces are looked for this rarely (frames):
#: a local search costs tens of milliseconds on 2 cores, and the poses keep the box on them.
REDETECT_TRACKED = 30
#: A box is held this many frames after the last face, or the last confident pose (plus the
#: pipeline's lag), before the person counts as gone.
HOLD_FRAMES = 25
SMOOTHING = 0.3
#: Whole-frame histogram distance that is a shot cut (the pipeline's default cut threshold).
CUT_DISTANCE = 0.5
#: Pose feedback: head and both shoulders at least this confident move the box towards the pose.
FEEDBACK_CONFIDENCE = 0.3
#: Without a face, scan the frame with the pose network this often (frames), doubling after each
#: fruitless scan up to SCAN_EVERY_MAX, so long stretches without anyone cost little. A scan
#: whose find no confident pose ever confirms counts as fruitless too.
SCAN_EVERY = 10
SCAN_EVERY_MAX = 320
#: Squares scanned, as fractions of the frame's shorter side, with half-square steps.
SCAN_SIDES = (1.0, 0.6, 0.4)
#: Squares per network batch in a scan: smaller batches keep the scan's memory peak low (each
#: 256×256 input holds about 10 MB of activations in the cpu preset) at no cost in speed.
SCAN_BATCH = 8
#: A scanned square counts as a person when head and shoulders average at least this confidence.
SCAN_CONFIDENCE = 0.3
#: Where a face puts the body, in face widths (OpenCV's frontal-face box), measured on 367 labelled
#: frames of the training videos (medians; quartiles in brackets): shoulder width 1.53 [1.43, 1.67],
#: body scale 1.62 [1.45, 1.81], shoulder midpoint 0.94 [0.80, 1.09] below the face centre, the
#: head label at the face centre (-0.02).
FACE_SHOULDER_WIDTH = 1.6
FACE_SHOULDER_DROP = 0.94
#: Upper-body box side over face width, as roi_from_face makes it.
BOX_PER_FACE = BOX_SIDE * FACE_SHOULDER_WIDTH
#: While following someone, faces are looked for only near where the box puts the head: across
#: the box grown by LOCAL_MARGIN of its side on either side, and LOCAL_MARGIN of its side above
#: and below the head's expected height (HEAD_DEPTH of the side below the box's top edge, as
#: roi.from_joints places boxes), at 0.75–2× the expected face size, in an image scaled so that
#: the expected face is LOCAL_FACE_PIXELS wide. Half the area of the whole grown box, and half
#: the time on 640×360 street video (157 → 72 ms a search, 2 busy cores); a smaller scale (32)
#: was faster still but missed faces in held-out pose2sim video (shoulders PCK@10 34 → 12).
LOCAL_MARGIN = 0.5
#: The face centre lies FACE_SHOULDER_DROP face widths (0.59 body scales) above the shoulders.
HEAD_DEPTH = (BOX_SIDE / 2 - BOX_DROP - FACE_SHOULDER_DROP / FACE_SHOULDER_WIDTH) / BOX_SIDE
LOCAL_FACE_PIXELS = 48


def face_cascade(name: str = "haarcascade_frontalface_default.xml") -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + name)


def roi_from_face(x: float, y: float, w: float, h: float) -> Roi:
    """Upper-body box implied by a face box: shoulders as far out and below as measured (above)."""
    head = np.array([x + w / 2, y + h / 2])
    half, drop = FACE_SHOULDER_WIDTH / 2 * w, FACE_SHOULDER_DROP * w
    joints = np.array([head, head + (-half, drop), head + (half, drop)] + [head] * 4)
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

    def __init__(self, rule: str = "largest", input_size: int = 256, pose: PoseFn | None = None, lag: int = 0):
        if not valid_person(rule):
            raise ValueError(f"--person must be largest, center or a number, not {rule!r}")
        self.rule = str(rule)
        self.cascade = face_cascade()
        self.confirm = face_cascade("haarcascade_frontalface_alt2.xml")
        self.current: Roi | None = None
        self.pose = pose
        self.lag = lag
        # Frame indices: when the current person was found, last seen by a face, last vouched for
        # by a pose, and last placed by a pose (confident enough to move the box).
        self._found_at = self._faced = self._posed = self._placed = -(10**9)
        self._by_face = False
        self.input_size = input_size
        self._last_scan = -SCAN_EVERY
        self._scan_every = SCAN_EVERY
        self._last_detect = -REDETECT_TRACKED
        self._idle_every = REDETECT_EVERY
        self._near_every = REDETECT_EVERY
        # region() runs in the pipeline's preparation thread, feedback() in the network thread
        self._lock = threading.Lock()
        # cuts of the whole frame (the pipeline's detector sees only the crop this tracker chooses)
        self._shots = ShotDetector(CUT_DISTANCE, None)
        self._cut_at = -(10**9)

    def faces(self, grey: np.ndarray, min_size: int = 16, max_size: int | None = None) -> np.ndarray:
        """Confirmed face boxes (N×4: x, y, w, h) in a grey image."""
        found = []
        limits = {"maxSize": (max_size, max_size)} if max_size else {}
        for x, y, w, h in self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                                        minSize=(min_size, min_size), **limits):
            pad = w // 2
            sub = grey[max(0, y - pad): y + h + pad, max(0, x - pad): x + w + pad]
            lo, hi = (int(w * 0.6),) * 2, (int(w * 1.6),) * 2
            if len(self.confirm.detectMultiScale(sub, scaleFactor=1.05, minNeighbors=2, minSize=lo, maxSize=hi)):
                found.append((x, y, w, h))
        return np.asarray(found, dtype=np.float64).reshape(-1, 4)

    def detect(self, rgb: np.ndarray) -> Roi | None:
        """The person's box from the faces in a frame: by the --person rule when nobody is being
        followed yet, else the face nearest the current box (so the choice stays with one person),
        looked for only around that box."""
        current = self.current
        if current is not None:
            return self._detect_near(rgb, current)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = 1.0
        if max(grey.shape) > 960:
            scale = 960 / max(grey.shape)
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = self.faces(grey) / scale
        h, w = rgb.shape[:2]
        face = choose(faces, self.rule, w, h)
        return None if face is None else roi_from_face(*face)

    def _detect_near(self, rgb: np.ndarray, current: Roi) -> Roi | None:
        h, w = rgb.shape[:2]
        m = LOCAL_MARGIN * current.side
        head_y = current.y + HEAD_DEPTH * current.side
        x0, y0 = max(0, int(current.x - m)), max(0, int(head_y - m))
        x1, y1 = min(w, int(current.x + current.side + m)), min(h, int(head_y + m))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        face_w = current.side / BOX_PER_FACE
        scale = float(np.clip(LOCAL_FACE_PIXELS / face_w, 0.1, 2.0))  # small faces are enlarged too
        grey = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=interp)
        lo = max(16, int(0.75 * face_w * scale))
        faces = self.faces(grey, lo, max(lo + 1, int(2 * face_w * scale)))
        if not len(faces):
            return None
        faces = faces / scale + [x0, y0, 0, 0]
        c = np.array([current.x + current.side / 2, current.y + current.side / 2])
        d = np.linalg.norm(faces[:, :2] + faces[:, 2:] / 2 - c, axis=1)
        k = int(np.argmin(d))
        return roi_from_face(*faces[k]) if d[k] < 0.75 * current.side else None

    def _cut(self, rgb: np.ndarray, index: int) -> bool:
        """Whether this frame starts a new shot of the whole frame (shots.ShotDetector, gaps off)."""
        before = self._shots.segment
        return self._shots.update(rgb, 0.0, index) != before

    def feedback(self, joints: np.ndarray, confidence: np.ndarray, index: int) -> None:
        """Let a confident pose (head and shoulders, frame pixels) of frame `index` refine the box
        for later frames and vouch that the person is still there.

        The pipeline calls this as frames are pooled, about `lag` frames behind the frame being
        cropped, which is fine for a box that is smoothed anyway.
        """
        visible = confidence >= FEEDBACK_CONFIDENCE
        found = from_joints(joints, visible) if visible[:3].all() else None
        # A pose as confident as the scan needs to find someone vouches for the person even when
        # one of head and shoulders is too weak to place the box: else a person the scan found
        # would be dropped and searched for again (half a second) every few seconds.
        vouch = float(confidence[:3].mean()) >= SCAN_CONFIDENCE
        with self._lock:
            if self.current is None or index < self._cut_at:  # a pose of the shot before a cut
                return
            if found is not None and found.side < 2.5 * self.current.side:
                self.current = _blend(self.current, found, SMOOTHING)
                self._placed = max(self._placed, index)
                vouch = True
            if vouch:
                self._posed = max(self._posed, index)
                self._scan_every = SCAN_EVERY

    def scan(self, rgb: np.ndarray) -> Roi | None:
        """Find a person with the pose network: the most confident of overlapping squares."""
        if self.pose is None:
            return None
        h, w = rgb.shape[:2]
        candidates = []
        for frac in SCAN_SIDES:
            side = frac * min(h, w)
            step = side / 2
            for y in np.arange(0, max(1.0, h - side + 1), step):
                for x in np.arange(0, max(1.0, w - side + 1), step):
                    candidates.append(Roi(float(x), float(y), float(side)))
        square, refined, best_score = None, None, SCAN_CONFIDENCE
        for i in range(0, len(candidates), SCAN_BATCH):
            batch = candidates[i:i + SCAN_BATCH]
            for roi, (pts, conf) in zip(batch, self.pose([crop(rgb, r, self.input_size) for r in batch]), strict=True):
                score = float(conf[:3].mean())
                if score > best_score:
                    joints = roi.to_frame(pts.astype(np.float64), self.input_size)
                    square, refined, best_score = roi, from_joints(joints, conf >= SCAN_CONFIDENCE), score
        if square is None or refined is None:
            return square
        # The box refined from the square's joints frames the person at body scale, if they are
        # real: one more look at it confirms them. A find whose refined box loses the head and
        # shoulders (a half-seen or misplaced pose) falls back to the confident square itself.
        _, conf = self.pose([crop(rgb, refined, self.input_size)])[0]
        return refined if float(conf[:3].mean()) >= SCAN_CONFIDENCE else square

    def region(self, rgb: np.ndarray, index: int) -> Roi | None:
        """The box for this frame. Faces are looked for every REDETECT_TRACKED frames while
        confident poses move the box, every REDETECT_EVERY otherwise (backing off while they are
        not found), and ever more rarely (up to REDETECT_IDLE_MAX) while nobody is found. The
        box is dropped HOLD_FRAMES after the last face or the last pose that vouched for it
        (allowing for the lag). A shot cut (the whole frame's colours change at once) drops the
        person and looks for one at once: the box of another shot frames nobody here."""
        if self._cut(rgb, index):
            with self._lock:
                self.current, self._cut_at = None, index
                self._found_at = self._faced = self._posed = self._placed = -(10**9)
            self._last_detect = self._last_scan = -(10**9)
            self._idle_every, self._scan_every = REDETECT_EVERY, SCAN_EVERY
        with self._lock:
            current = self.current
            placed = current is not None and self._placed + self.lag + HOLD_FRAMES >= index
        if current is None:
            every = self._idle_every
        elif placed:
            every = REDETECT_TRACKED
        else:
            every = self._near_every
        if index - self._last_detect >= every:
            self._last_detect = index
            found = self.detect(rgb)
            by_face = found is not None
            if current is not None:  # a local search: fruitless ones back off, as full-frame ones do
                self._near_every = REDETECT_EVERY if by_face else min(2 * every, NEAR_EVERY_MAX)
            if found is None and current is None and index - self._last_scan >= self._scan_every:
                self._last_scan = index
                found = self.scan(rgb)
                if found is None:  # a find counts once a pose confirms it (feedback, region)
                    self._scan_every = min(2 * self._scan_every, SCAN_EVERY_MAX)
            if current is None:
                self._idle_every = REDETECT_EVERY if found is not None else min(2 * every, REDETECT_IDLE_MAX)
            if found is not None:
                with self._lock:
                    if self.current is None:
                        self.current, self._found_at = found, index
                        self._near_every = REDETECT_EVERY
                    else:
                        self.current = _blend(self.current, found, SMOOTHING)
                    self._by_face = by_face
                    if by_face:
                        self._faced = index
        with self._lock:
            held = max(self._faced, self._found_at + self.lag, self._posed + self.lag) + HOLD_FRAMES
            if self.current is not None and index > held:
                if not self._by_face and self._posed < self._found_at:
                    # the scan's find was never confirmed by a pose: as fruitless as no find
                    self._scan_every = min(2 * self._scan_every, SCAN_EVERY_MAX)
                self.current = None
            return self.current


def _blend(a: Roi, b: Roi, k: float) -> Roi:
    ca = np.array([a.x + a.side / 2, a.y + a.side / 2])
    cb = np.array([b.x + b.side / 2, b.y + b.side / 2])
    c = (1 - k) * ca + k * cb
    side = (1 - k) * a.side + k * b.side
    return Roi(c[0] - side / 2, c[1] - side / 2, side)
