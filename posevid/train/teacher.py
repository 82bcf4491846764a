"""MediaPipe Pose as a teacher: labels for unlabelled video, in our own JSON format.

The paper trained on frames labelled automatically by an earlier tracker; we do the same
with MediaPipe Pose 0.10.14, the last release whose pose model ships inside the wheel
(optional extra `posevid[teacher]`). Landmark visibility becomes our confidence.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import PosevidError
from ..io.images import IMAGE_SUFFIXES
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
        result = self.pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        lm = result.pose_landmarks.landmark
        pts = np.array([(p.x * w, p.y * h) for p in lm], dtype=np.float64)
        vis = np.array([p.visibility for p in lm], dtype=np.float64)
        xy, _ = map_joints(pts, np.ones(len(lm), bool), MEDIAPIPE_MAPPING)
        conf = np.array([vis[list(g)].mean() for g in MEDIAPIPE_MAPPING], dtype=np.float32)
        return xy, conf

    def close(self) -> None:
        self.pose.close()


def image_files(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            yield p


def read_image_rgb(path: Path) -> np.ndarray:
    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if im is None:
        raise PosevidError(f"{path}: not a readable image")
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB)


def _write_labels(teacher: Teacher, items: Iterator[tuple[int, float, np.ndarray, dict]], out_json: Path,
                  header: dict, threshold: float) -> tuple[int, int]:
    """Label (index, time, rgb, extra fields) items into one JSON; frames without a person are dropped."""
    from ..io.writers import JsonWriter, frame_record  # noqa: PLC0415

    writer = JsonWriter(out_json, {**header, "model": {"teacher": f"mediapipe {teacher.version}"}})
    kept = seen = 0
    try:
        for index, time, rgb, extra in items:
            seen += 1
            found = teacher(rgb)
            if found is None:
                continue
            writer.add({**frame_record(index, time, found[0], found[1], threshold), **extra})
            kept += 1
    except BaseException:
        writer.abort()
        raise
    writer.close({"summary": {"frames_labelled": kept, "frames_seen": seen}})
    return kept, seen


def label_video(teacher: Teacher, video: Path, out_json: Path, threshold: float = 0.5,
                progress: bool = False) -> tuple[int, int]:
    """Label every frame of a video. Returns (frames labelled, frames seen)."""
    from tqdm import tqdm  # noqa: PLC0415

    from ..io.video import VideoReader  # noqa: PLC0415

    with VideoReader(video) as reader:
        frames = tqdm(reader.frames(), total=reader.info.frame_count or None, disable=not progress,
                      unit="frame", desc=video.name)
        items = ((fr.index, fr.time, fr.image, {}) for fr in frames)
        return _write_labels(teacher, items, out_json, {"video": reader.info.to_dict()}, threshold)


def label_images(teacher: Teacher, folder: Path, out_json: Path, threshold: float = 0.5) -> tuple[int, int]:
    """Label every image under a folder into one JSON whose frames name their image."""
    items = ((i, 0.0, read_image_rgb(p), {"image": str(p.relative_to(folder))})
             for i, p in enumerate(image_files(folder)))
    return _write_labels(teacher, items, out_json, {"images": str(folder)}, threshold)
