"""One video in, NAME.json / NAME.csv / NAME.mp4 out: the product's main job.

A photo (NAME.jpg: the overlay is an image in its format) or a folder of images (a sequence,
NAME.mp4) goes the same way through images.ImageReader.

Outputs are written under temporary names and renamed only when the whole video is
done, so an interrupted run leaves nothing that looks finished; checkpoints every
`resume_every` frames let the next run continue where it stopped (resume.py). Drawing
and encoding run in a worker thread beside the network.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import av
from tqdm import tqdm

from .config import AnnotateSettings
from .errors import ConfigError, InputError, Interrupted, OutputError, PosevidError, output_error
from .io import resume
from .io.atomic import commit, discard, temp_path
from .io.images import ImageOverlayWriter, ImageReader, is_image_input, overlay_suffix
from .io.video import OverlayWriter, VideoReader
from .io.writers import CsvWriter, JsonWriter, draw_people
from .pipeline import Annotator
from .result import by_frame
from .streaming import Worker
from .version import __version__


@dataclass
class Result:
    """What one annotated video produced (for the summary line and the batch manifest)."""

    video: str
    frames: int
    seconds: float
    outputs: list[str]
    no_person_frames: int
    corrupt_packets: int
    warnings: list[str]
    resumed_from: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def output_paths(video: Path, out_dir: Path, settings: AnnotateSettings) -> dict[str, Path]:
    name = video.name if video.is_dir() else video.stem
    paths = {"json": out_dir / f"{name}.json"}
    if settings.csv:
        paths["csv"] = out_dir / f"{name}.csv"
    if settings.video:
        photo = not video.is_dir() and is_image_input(video)
        paths["overlay"] = out_dir / (f"{name}{overlay_suffix(video)}" if photo else f"{name}.mp4")
    return paths


def open_input(video: Path, deinterlace: str) -> VideoReader | ImageReader:
    """A video file, a photo (by its content, whatever its name), or a folder of images."""
    if is_image_input(video):
        return ImageReader(video)
    if video.is_dir():
        raise InputError(f"{video}: a folder without images (for a folder of videos: posevid batch)")
    return VideoReader(video, deinterlace=deinterlace)


def ensure_writable_dir(out_dir: Path) -> None:
    """Create an output folder, or fail with one line when that or writing into it is impossible."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create output folder ({e.strerror})") from None
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"{out_dir}: output folder is not writable")


def check_outputs(paths: dict[str, Path], overwrite: bool) -> None:
    """Refuse to clobber finished outputs, and fail early when the folder is not writable."""
    ensure_writable_dir(next(iter(paths.values())).parent)
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            raise OutputError(f"{existing[0]}: already exists (use --overwrite)")


class EmptyStretches:
    """Stretches of frames with nobody in view, for one warning each when they last long: a
    normal state (graphics, an empty studio), but one a user reading only the CSV should know of."""

    #: Seconds without a person that earn a warning; and how many stretches are listed by time.
    MIN_SECONDS = 10.0
    LISTED = 5

    def __init__(self) -> None:
        self.start: float | None = None
        self.last = 0.0
        self.found: list[tuple[float, float]] = []

    def update(self, empty: bool, time: float) -> None:
        if empty and self.start is None:
            self.start = time
        elif not empty and self.start is not None:
            self._close(time)
        self.last = time

    def _close(self, end: float) -> None:
        if self.start is not None and end - self.start >= self.MIN_SECONDS:
            self.found.append((self.start, end))
        self.start = None

    def warnings(self) -> list[str]:
        self._close(self.last)
        out = [f"nobody in view for {b - a:.0f} s, from {_clock(a)} to {_clock(b)}"
               for a, b in self.found[: self.LISTED]]
        if len(self.found) > self.LISTED:
            out.append(f"and {len(self.found) - self.LISTED} more stretches of {self.MIN_SECONDS:.0f} s or more "
                       "with nobody in view (frames with status no_person in the JSON)")
        return out


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def check_box(box: list[float] | None, width: int, height: int, video: Path) -> None:
    """A --box that misses the (upright) frame entirely is a usage error, not zero joints."""
    if box is None:
        return
    x, y, w, h = box
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ConfigError(f"--box {','.join(f'{v:g}' for v in box)} lies outside the {width}x{height} frame "
                          f"of {video}")


def annotate_video(annotator: Annotator, video: Path, out_dir: Path, overwrite: bool = False,
                   progress: bool = True) -> Result:
    """Run the pipeline on one video and write its outputs atomically."""
    s = annotator.s
    paths = output_paths(video, out_dir, s)
    if any(p.resolve() == Path(video).resolve() for p in paths.values()):
        raise OutputError(f"{video}: the output would replace the input video; choose another --out folder")
    check_outputs(paths, overwrite)
    start = time.perf_counter()
    cp = None if overwrite else resume.load(Path(video), paths, s)
    if cp is None:
        resume.remove(paths["json"])
    done = cp.frames if cp else 0
    # restart far enough before the checkpoint that every window from it on is whole
    warm_start = max(0, done - 2 * annotator.window - s.batch_size - 30) if cp else 0
    with open_input(Path(video), s.deinterlace) as reader:
        info = reader.info
        check_box(s.box, info.width, info.height, video)
        header = {"video": info.to_dict(), "model": annotator.describe(),
                  "settings": s.to_dict(), "posevid_version": __version__}
        writers: list[Any] = []
        overlay = None
        encoder = None
        checkpointed = cp is not None
        saved = done  # frames a checkpoint holds, which a rerun continues from
        every = int(s.resume_every or 0)
        count = done
        try:
            if cp:
                js = JsonWriter.reopen(paths["json"], cp.json_bytes, cp.frames)
                old_records = resume.written_records(temp_path(paths["json"]), cp.json_bytes)
            else:
                js = JsonWriter(paths["json"], header)
                old_records = iter(())
            old_frames = groupby(old_records, key=lambda r: r["index"])  # one group a frame
            writers.append(js)
            csv_w = None
            if "csv" in paths:
                csv_w = CsvWriter.reopen(paths["csv"], cp.csv_bytes) if cp else CsvWriter(paths["csv"])
                writers.append(csv_w)
            if "overlay" in paths and isinstance(reader, ImageReader) and not reader.is_sequence:
                overlay = ImageOverlayWriter(temp_path(paths["overlay"]), paths["overlay"].suffix)
            elif "overlay" in paths:
                overlay = OverlayWriter(temp_path(paths["overlay"]), info, video, crf=s.crf,
                                        preset=s.encoder_preset)
            clock = annotator.clock

            ids = s.person == "all"

            def draw_and_encode(item: tuple) -> None:
                with clock("draw"):
                    image = draw_people(item[0][0].copy(), item[0][1], s.show_box, ids)
                with clock("encode"):
                    overlay.write(image, item[1])

            encoder = Worker(draw_and_encode, size=16) if overlay else None
            no_person = cp.no_person if cp else 0
            empty = EmptyStretches()
            earlier_cuts = cp.cuts if cp else []
            identity = (resume.source_id(Path(video)), s.fingerprint(resume.NOT_RESULTS))  # fixed for the run
            bar = tqdm(total=info.frame_count or None, disable=not progress, unit="frame",
                       desc=video.name, dynamic_ncols=True, leave=False)
            first_person = cp.next_person if cp else 0
            for results in by_frame(annotator.run(reader, start=warm_start, first_person=first_person)):
                frame = results[0].frame
                if frame.index < done:  # written by the interrupted run: only drawn again
                    old = next(old_frames, None)
                    if encoder and old is not None:
                        encoder.put(((frame.image, list(old[1])), frame.time))
                    bar.update(1)
                    continue
                records = [r.record for r in results]
                for record in records:
                    js.add(record)
                    if csv_w:
                        csv_w.add(record)
                if encoder:
                    encoder.put(((frame.image, records), frame.time))
                count += 1
                nobody = records[0]["status"] == "no_person"
                no_person += nobody
                empty.update(nobody, frame.time)
                bar.update(1)
                if every and count % every == 0:
                    cuts = earlier_cuts + [c for c in annotator.cuts if done <= c["frame"] < count]
                    people = annotator.tracker.next_id if annotator.tracker else 0
                    resume.save(resume.Checkpoint(count, js.flush(), csv_w.flush() if csv_w else None, no_person,
                                                  cuts, *identity, next_person=max(people, first_person)),
                                paths["json"])
                    checkpointed, saved = True, count
            bar.close()
            if encoder:
                encoder, running = None, encoder
                running.finish()
            warnings = list(info.warnings)
            if reader.corrupt_packets:
                warnings.append(f"{reader.corrupt_packets} corrupt or unreadable packet(s) skipped")
            if info.frame_count and count < info.frame_count:
                warnings.append(f"decoded {count} of the {info.frame_count} frames the container announces")
            if count and no_person == count:
                warnings.append("no person found in any frame")
            else:
                warnings += empty.warnings()
            cuts = earlier_cuts + [c for c in annotator.cuts if c["frame"] >= done]
            trailer = {"cuts": cuts, "summary": {
                "frames": count, "no_person_frames": no_person, "corrupt_packets": reader.corrupt_packets,
                "seconds": round(time.perf_counter() - start, 3), "resumed_from_frame": done,
                "warnings": warnings}}
            if overlay:
                overlay.close()
                commit(temp_path(paths["overlay"]), paths["overlay"])
                overlay = None
            if csv_w:
                csv_w.close()
            js.close(trailer)  # last: a finished JSON marks a finished video
            resume.remove(paths["json"])
        except BaseException as e:
            if encoder is not None:
                encoder.cancel()
            for w in writers:
                if checkpointed:  # keep the .part files the checkpoint describes for the next run
                    w.detach()
                else:
                    w.abort()
            if overlay is not None:
                overlay.abort()
            if "overlay" in paths:
                discard(temp_path(paths["overlay"]))
            if isinstance(e, (OSError, av.FFmpegError)) and not isinstance(e, PosevidError):
                raise output_error(out_dir, e) from None
            if isinstance(e, KeyboardInterrupt) and not isinstance(e, Interrupted):
                if saved:
                    msg = (f"interrupted at frame {count} of {video}; its first {saved} frames are checkpointed: "
                           f"run the same command again to continue from frame {saved}")
                else:
                    msg = (f"interrupted at frame {count} of {video}, before its first checkpoint (every "
                           f"{every} frames): its unfinished outputs were removed and the same command starts "
                           "it again; videos already finished are kept")
                raise Interrupted(msg) from None
            raise
    return Result(str(video), count, time.perf_counter() - start, [str(p) for p in paths.values()],
                  no_person, reader.corrupt_packets, warnings, done)
