"""MediaPipe Pose as a teacher: labels for unlabelled video, in our own JSON format.

The paper trained on frames labelled automatically by an earlier tracker; we do the same
with MediaPipe Pose 0.10.14, the last release whose pose model ships inside the wheel
(optional extra `posevid[teacher]`). Landmark visibility becomes our confidence.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import PosevidError
from ..io.images import IMAGE_SUFFIXES, read_rgb
from ..joints import MEDIAPIPE_MAPPING, map_joints


class Teacher:
    """Wraps mediapipe.solutions.pose; `video=True` uses its tracking mode between frames."""

    def __init__(self, video: bool = True, complexity: int = 1):
        try:
            import mediapipe as mp  # noqa: PLC0415 - optional extra
        except ImportError:
            raise PosevidError("the teacher needs MediaPipe: pip install 'posevid[teacher]'") from None
        self.version = getattr(mp, "__version__", "?")
        self.pose = mp.solutions.pose.Pose(static_image_mode=not video, model_complexity=complexity,
                                           min_detection_confidence=0.5)

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(7×2 pixel positions, 7 confidences) of the person in an RGB image, or None."""
        found = self.landmarks(rgb)
        if found is None:
            return None
        return joints_of_landmarks(*found)

    def landmarks(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """All 33 of MediaPipe's landmarks (33×2 pixel positions, 33 visibilities), or None."""
        result = self.pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        lm = result.pose_landmarks.landmark
        return (np.array([(p.x * w, p.y * h) for p in lm], dtype=np.float64),
                np.array([p.visibility for p in lm], dtype=np.float64))

    def close(self) -> None:
        self.pose.close()


def joints_of_landmarks(pts: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our 7 joints (7×2 pixel positions, 7 confidences) from MediaPipe's 33 landmarks and their
    visibilities: a joint made of several landmarks (the head) takes their mean."""
    xy, _ = map_joints(pts, np.ones(len(pts), bool), MEDIAPIPE_MAPPING)
    conf = np.array([vis[list(g)].mean() for g in MEDIAPIPE_MAPPING], dtype=np.float32)
    return xy, conf


#: Every person: detections at least this strong are proposals the teacher is asked about.
PROPOSAL_SCORE = 0.15
#: The teacher reads each proposal's box enlarged by this (its pose model wants some context).
CONTEXT = 1.3
CROP_SIZE = 384
#: A teacher pose confirms a proposal when its crop-rule box overlaps the proposal this much.
CONFIRM_IOU = 0.3


class EveryPerson:
    """Teacher labels for every person in a frame: MediaPipe Pose finds one person an image, so the
    shipped person detector proposes boxes and the teacher reads each one's crop. A proposal is a
    person when the teacher's head and shoulders give a crop-rule box that overlaps it."""

    def __init__(self, teacher: Teacher, threshold: float = 0.5, detector_path: str | Path | None = None):
        from ..person.detector import PersonDetector  # noqa: PLC0415

        self.teacher, self.threshold = teacher, threshold
        self.detector = PersonDetector(detector_path)

    def __call__(self, rgb: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[list[float]]]:
        """Each confirmed person's (7×2 positions, 7 confidences), largest first, and the boxes
        (x, y, side) of the proposals the teacher could not confirm: people it missed (seen
        from behind, small) as often as things that are not people, so the detector's training
        is told nothing about them (train/detector.py), rather than that they are background."""
        from ..person.detector import iou  # noqa: PLC0415
        from ..person.roi import Roi, body_box, crop  # noqa: PLC0415

        people: list[tuple[np.ndarray, np.ndarray, Roi]] = []
        unsure: list[Roi] = []
        for d in self.detector(rgb, PROPOSAL_SCORE):
            cx, cy = d.roi.centre
            region = Roi.centred(cx, cy, d.roi.side * CONTEXT)
            found = self.teacher(crop(rgb, region, CROP_SIZE))
            box = None
            if found is not None:
                xy = region.to_frame(found[0], CROP_SIZE)
                box = body_box(xy, found[1] >= self.threshold)
            if box is None or iou(box, d.roi) < CONFIRM_IOU:
                unsure.append(d.roi)
            elif all(iou(box, b) < 0.5 for _, _, b in people):  # two proposals of one person: the first
                people.append((xy, found[1], box))
        unsure = [u for u in unsure if all(iou(u, b) < CONFIRM_IOU for _, _, b in people)]
        return ([(xy, conf) for xy, conf, _ in sorted(people, key=lambda p: -p[2].side)],
                [[round(u.x, 1), round(u.y, 1), round(u.side, 1)] for u in unsure])


def image_files(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            yield p


def read_image_rgb(path: Path) -> np.ndarray:
    """An image to label, upright (io.images.read_rgb); an unreadable one stops the labelling."""
    rgb = read_rgb(path)
    if rgb is None:
        raise PosevidError(f"{path}: not a readable image")
    return rgb


def _write_labels(teacher: Teacher, items: Iterator[tuple[int, float, np.ndarray, dict]], out_json: Path,
                  header: dict, threshold: float, everyone: EveryPerson | None = None) -> tuple[int, int]:
    """Label (index, time, rgb, extra fields) items into one JSON; frames without a person are
    dropped. With `everyone`, each frame gets a record per person (`person` 0, 1, ... largest
    first, not followed between frames), and the trailer lists per frame the boxes of the
    proposals the teacher could not confirm (`unsure`)."""
    from ..io.writers import JsonWriter, frame_record  # noqa: PLC0415

    writer = JsonWriter(out_json, {**header, "model": {"teacher": f"mediapipe {teacher.version}",
                                                       "every_person": everyone is not None}})
    kept = seen = 0
    unsure: list[dict] = []
    try:
        for index, time, rgb, extra in items:
            seen += 1
            if everyone is not None:
                people, boxes = everyone(rgb)
                for k, (xy, conf) in enumerate(people):
                    writer.add({**frame_record(index, time, xy, conf, threshold), "person": k, **extra})
                if people and boxes:
                    unsure.append({"index": index, "boxes": boxes})
                kept += bool(people)
                continue
            found = teacher(rgb)
            if found is None:
                continue
            writer.add({**frame_record(index, time, found[0], found[1], threshold), **extra})
            kept += 1
    except BaseException:
        writer.abort()
        raise
    writer.close({"summary": {"frames_labelled": kept, "frames_seen": seen},
                  **({"unsure": unsure} if everyone is not None else {})})
    return kept, seen


def label_video(teacher: Teacher, video: Path, out_json: Path, threshold: float = 0.5,
                progress: bool = False, everyone: EveryPerson | None = None, every: int = 1) -> tuple[int, int]:
    """Label every `every`-th frame of a video (every person in it with `everyone`). Returns
    (frames labelled, frames seen)."""
    from tqdm import tqdm  # noqa: PLC0415

    from ..io.video import VideoReader  # noqa: PLC0415

    with VideoReader(video) as reader:
        frames = tqdm(reader.frames(), total=reader.info.frame_count or None, disable=not progress,
                      unit="frame", desc=video.name)
        items = ((fr.index, fr.time, fr.image, {}) for fr in frames if fr.index % every == 0)
        return _write_labels(teacher, items, out_json, {"video": reader.info.to_dict()}, threshold, everyone)


def label_images(teacher: Teacher, folder: Path, out_json: Path, threshold: float = 0.5,
                 everyone: EveryPerson | None = None) -> tuple[int, int]:
    """Label every image under a folder into one JSON whose frames name their image."""
    items = ((i, 0.0, read_image_rgb(p), {"image": str(p.relative_to(folder))})
             for i, p in enumerate(image_files(folder)))
    return _write_labels(teacher, items, out_json, {"images": str(folder)}, threshold, everyone)
