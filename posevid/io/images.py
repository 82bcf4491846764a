"""Photos and folders of images as input: one photo is a one-frame video, a folder of images a
sequence (sorted by name) at a nominal frame rate.

ImageReader has VideoReader's interface (info, frames(), corrupt_packets, a context manager),
so the pipeline and the writers treat both alike. A photo gets an overlay image instead of
an MP4; a sequence gets an MP4 at SEQUENCE_FPS.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .video import Frame, VideoInfo

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: Frame rate given to a folder of images (times in the JSON, the overlay MP4's speed).
SEQUENCE_FPS = 10.0
#: The first bytes of the image formats OpenCV reads, to know a photo whatever its file name
#: says (a PNG renamed .mp4 is a photo, not a one-frame video with a corrupt packet).
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(path: str | os.PathLike) -> bool:
    """Whether a file is an image, by its first bytes (not its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def image_files(folder: Path) -> list[Path]:
    """The images directly in a folder, sorted by name (hidden files left out)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def is_image_input(path: Path) -> bool:
    """A photo, or a folder holding images: what ImageReader reads."""
    if path.is_dir():
        return bool(image_files(path))
    return path.is_file() and looks_like_image(path)


def read_rgb(path: Path) -> np.ndarray | None:
    """An upright RGB image (OpenCV applies the EXIF orientation), or None when unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageReader:
    """One photo, or the images of a folder as a sequence of frames of one size."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.files = image_files(self.path) if self.path.is_dir() else [self.path]
        if not self.files:
            raise InputError(f"{self.path}: a folder without images or videos")
        self.corrupt_packets = 0
        first = None
        for f in self.files:
            first = read_rgb(f)
            if first is not None:
                break
            self.corrupt_packets += 1
        if first is None:
            raise InputError(f"{self.path}: no readable image")
        # decoded once: frames() takes it from here (its index is the unreadable files before it)
        self._first: tuple[int, np.ndarray] | None = (self.corrupt_packets, first)
        h, w = first.shape[:2]
        n = len(self.files)
        fps = SEQUENCE_FPS if self.is_sequence else 1.0
        self.info = VideoInfo(path=str(self.path), width=w, height=h, fps=fps, frame_count=n, duration=n / fps,
                              rotation=0, codec="image", pix_fmt="rgb24", has_audio=False)

    @property
    def is_sequence(self) -> bool:
        return self.path.is_dir()

    def frames(self) -> Iterator[Frame]:
        """Every readable image of the one size, in name order; others are skipped and counted."""
        self.corrupt_packets = 0
        index = 0
        for k, f in enumerate(self.files):
            if self._first is not None and k == self._first[0]:
                image, self._first = self._first[1], None
            else:
                image = read_rgb(f)
            if image is None:
                self.corrupt_packets += 1
                continue
            if image.shape[:2] != (self.info.height, self.info.width):
                raise InputError(f"{f}: {image.shape[1]}x{image.shape[0]}, not the {self.info.width}x"
                                 f"{self.info.height} of the sequence's first image; give photos of "
                                 "different sizes one by one (posevid annotate photos/*.jpg)")
            yield Frame(index=index, time=k / self.info.fps, image=image, pts=None)
            index += 1

    def close(self) -> None:
        """Nothing is held open."""

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageOverlayWriter:
    """The overlay of a photo: the drawn frame written once, in the photo's own format."""

    def __init__(self, path: Path, suffix: str):
        self.path = path
        self.suffix = suffix
        self.image: np.ndarray | None = None

    def write(self, image: np.ndarray, time: float) -> None:
        self.image = image

    def close(self) -> None:
        if self.image is None:
            return
        ok, data = cv2.imencode(self.suffix, cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise InputError(f"{self.path}: cannot encode the overlay as {self.suffix}")
        data.tofile(str(self.path))

    def abort(self) -> None:
        self.image = None


def overlay_suffix(path: Path) -> str:
    """A photo's overlay keeps its format where OpenCV writes it (JPEG, PNG, ...), else PNG."""
    suffix = path.suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES and suffix != ".tif" else ".png"
