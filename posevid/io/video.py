"""Video input and output with PyAV: streamed decoding, upright frames, real timestamps,
and the overlay MP4 writer that keeps the original audio.

Decoding goes packet by packet so that one corrupt packet is skipped and counted
instead of ending the whole video; frames are yielded one at a time and never held.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError, output_error

#: Audio codecs that MP4 carries as they are; anything else is re-encoded to AAC.
MP4_AUDIO_COPY = {"aac", "mp3", "ac3", "eac3", "opus", "alac"}
FALLBACK_FPS = 25.0


@dataclass
class VideoInfo:
    """What the JSON output records about the input video (sizes are of the upright picture)."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    rotation: int
    codec: str
    pix_fmt: str
    has_audio: bool
    interlaced: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Frame:
    """One decoded, upright RGB frame with its index and presentation time in seconds."""

    index: int
    time: float
    image: np.ndarray
    pts: int | None


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as e:
        raise InputError(f"{p}: not a readable video ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split("\n")[0].strip().rstrip(":") or type(e).__name__


def _rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame | None) -> int:
    """Counter-clockwise display rotation in degrees, a multiple of 90 in [0, 360)."""
    deg = 0.0
    if first is not None:
        deg = float(getattr(first, "rotation", 0) or 0)
    if not deg:
        try:
            deg = -float(stream.metadata.get("rotate", 0))
        except (TypeError, ValueError):
            deg = 0.0
    return int(round(deg / 90.0)) * 90 % 360


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display rotation (counter-clockwise degrees) so the picture is upright."""
    k = rotation // 90
    return np.ascontiguousarray(np.rot90(image, k=k)) if k else image


def _drain(graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
    """Every frame a filter graph has ready."""
    while True:
        try:
            yield graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return


class VideoReader:
    """Streams upright RGB frames of the first video stream of a file.

    Construction probes the file (first frame decoded) so that a non-video fails at once
    with an InputError; `info` then holds the metadata and `frames()` streams.
    """

    def __init__(self, path: str | os.PathLike, deinterlace: str = "auto"):
        self.path = str(path)
        self.container = _open(path)
        streams = self.container.streams.video
        if not streams:
            kinds = sorted({s.type for s in self.container.streams}) or ["nothing"]
            self.container.close()
            raise InputError(f"{path}: no video stream (holds {', '.join(kinds)})")
        self.stream = streams[0]
        self.stream.thread_type = "AUTO"
        self.corrupt_packets = 0
        self._first: av.VideoFrame | None = None
        self._pending: list[av.VideoFrame] = []
        for fr in self._decode():
            self._first = fr
            self._pending.append(fr)
            break
        if self._first is None:
            self.container.close()
            raise InputError(f"{path}: no decodable video frame")
        self.info = self._probe()
        self._deinterlace = deinterlace == "on" or (deinterlace == "auto" and self.info.interlaced)
        self._graph = None

    def _probe(self) -> VideoInfo:
        s, first = self.stream, self._first
        assert first is not None
        rotation = _rotation(s, first)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        warnings = []
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate else 0.0
        if not (0.5 <= fps <= 1000.0) or math.isnan(fps):
            warnings.append(f"frame rate unknown or broken ({fps}); assuming {FALLBACK_FPS} fps")
            fps = FALLBACK_FPS
        duration = 0.0
        if s.duration is not None and s.time_base:
            duration = float(s.duration * s.time_base)
        elif self.container.duration:
            duration = self.container.duration / av.time_base
        count = s.frames or int(round(duration * fps))
        interlaced = bool(getattr(first, "interlaced_frame", False))
        return VideoInfo(
            path=self.path,
            width=w,
            height=h,
            fps=fps,
            frame_count=int(count),
            duration=duration,
            rotation=rotation,
            codec=s.codec_context.name,
            pix_fmt=str(s.codec_context.pix_fmt or first.format.name),
            has_audio=bool(self.container.streams.audio),
            interlaced=interlaced,
            warnings=warnings,
        )

    def _decode(self) -> Iterator[av.VideoFrame]:
        try:
            for packet in self.container.demux(self.stream):
                try:
                    yield from packet.decode()
                except (av.InvalidDataError, av.error.PatchWelcomeError, ValueError):
                    self.corrupt_packets += 1
        except av.FFmpegError:
            # A truncated file ends the demuxer with an error: keep what was decoded.
            self.corrupt_packets += 1

    def _filtered(self, frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        if not self._deinterlace:
            yield from frames
            return
        graph = av.filter.Graph()
        src = graph.add_buffer(template=self.stream)
        yadif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = graph.add("buffersink")
        src.link_to(yadif)
        yadif.link_to(sink)
        graph.configure()
        for fr in frames:
            graph.push(fr)
            yield from _drain(graph)
        graph.push(None)
        yield from _drain(graph)

    def frames(self) -> Iterator[Frame]:
        """Yield every decodable frame, upright, with monotonically increasing times."""
        def raw() -> Iterator[av.VideoFrame]:
            yield from self._pending
            self._pending = []
            yield from self._decode()

        fps = self.info.fps
        last_time = -math.inf
        for index, fr in enumerate(self._filtered(raw())):
            t = fr.time
            if t is None or not math.isfinite(t) or t <= last_time:
                t = (last_time + 1.0 / fps) if math.isfinite(last_time) else index / fps
            last_time = t
            image = _upright(fr.to_ndarray(format="rgb24"), self.info.rotation)
            yield Frame(index=index, time=float(t), image=image, pts=fr.pts)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open, check and describe a video; raises InputError for anything that is not one."""
    with VideoReader(path) as r:
        return r.info


def is_video(path: str | os.PathLike) -> bool:
    """True when the file holds a decodable video stream (used to find videos in folders)."""
    try:
        probe(path)
        return True
    except InputError:
        return False


class OverlayWriter:
    """Writes an H.264 MP4 of the same size, timing and audio as the input, frame by frame.

    The video keeps the input's timestamps (variable frame rate survives). Audio packets
    from the input are interleaved as the video advances, copied when MP4 carries the
    codec and re-encoded to AAC otherwise.
    """

    def __init__(self, path: str | os.PathLike, info: VideoInfo, source: str | os.PathLike, crf: int = 20,
                 preset: str = "superfast"):
        self.path = Path(path)
        try:
            # faststart: the index (moov) is moved before the media data when the file is closed,
            # so a browser or player can start playing before it has the whole file
            self.out = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        except (av.FFmpegError, OSError) as e:
            raise output_error(self.path, e) from None
        self.info = info
        self.time_base = Fraction(1, 90000)
        odd = info.width % 2 or info.height % 2
        self.vstream = self.out.add_stream("libx264", rate=Fraction(info.fps).limit_denominator(1001))
        self.vstream.width, self.vstream.height = info.width, info.height
        self.vstream.pix_fmt = "yuv444p" if odd else "yuv420p"
        self.vstream.time_base = self.time_base
        self.vstream.codec_context.time_base = self.time_base
        self.vstream.options = {"crf": str(crf), "preset": preset}
        self._audio_in = None
        self._audio_iter: Iterator | None = None
        self._audio_pending = None
        self._resampler = None
        if info.has_audio:
            self._setup_audio(source)
        self._last_pts = -1

    def _setup_audio(self, source: str | os.PathLike) -> None:
        self._audio_in = av.open(str(source), metadata_errors="ignore")
        ain = self._audio_in.streams.audio[0]
        self._copy = ain.codec_context.name in MP4_AUDIO_COPY
        if self._copy:
            self.astream = self.out.add_stream_from_template(ain)
        else:
            rate = ain.codec_context.sample_rate or 48000
            self.astream = self.out.add_stream("aac", rate=rate)
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            self.astream.layout = "stereo"
        self._ain = ain
        self._audio_iter = self._audio_in.demux(ain)

    def _audio_until(self, t: float | None) -> None:
        """Mux audio up to time t (all of it when t is None), keeping the streams interleaved."""
        if self._audio_iter is None:
            return
        while True:
            pkt = self._audio_pending
            self._audio_pending = None
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except (StopIteration, av.FFmpegError):
                    self._audio_iter = None
                    return
            if pkt.dts is None and pkt.pts is None:
                if pkt.size == 0:
                    continue
            pt = float(pkt.pts * pkt.time_base) if pkt.pts is not None else None
            if t is not None and pt is not None and pt > t:
                self._audio_pending = pkt
                return
            if self._copy:
                if pkt.size:
                    pkt.stream = self.astream
                    self.out.mux(pkt)
            else:
                try:
                    frames = pkt.decode()
                except av.FFmpegError:
                    continue
                for af in frames:
                    for rf in self._resampler.resample(af):
                        self.out.mux(self.astream.encode(rf))

    def write(self, image: np.ndarray, time: float) -> None:
        """Encode one RGB frame shown at `time` seconds."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        pts = max(int(round(time / self.time_base)), self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self.time_base
        try:
            self._audio_until(time)
            for packet in self.vstream.encode(frame):
                self.out.mux(packet)
        except OSError as e:
            raise output_error(self.path, e) from None

    def close(self) -> None:
        """Flush the encoder and the rest of the audio, then close the file."""
        try:
            for packet in self.vstream.encode(None):
                self.out.mux(packet)
            self._audio_until(None)
            if self._resampler is not None:
                for rf in self._resampler.resample(None):
                    self.out.mux(self.astream.encode(rf))
                for packet in self.astream.encode(None):
                    self.out.mux(packet)
            self.out.close()
        except OSError as e:
            raise output_error(self.path, e) from None
        finally:
            if self._audio_in is not None:
                self._audio_in.close()

    def abort(self) -> None:
        """Close without caring about the result (the caller deletes the temporary file)."""
        for c in (self.out, self._audio_in):
            try:
                if c is not None:
                    c.close()
            except Exception:  # noqa: BLE001 - best effort on an output being thrown away
                pass
