"""Synthetic inputs the tests build for themselves: videos encoded with PyAV, stick figures."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from posevid.joints import SKELETON


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (good for optical flow), RGB uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(big, (0, 0), 1.0)


def figure_joints(cx: float, cy: float, scale: float, phase: float = 0.0) -> np.ndarray:
    """7 joints of a stick figure centred at the shoulders' midpoint, arms waving with `phase`."""
    s = scale
    head = (cx, cy - 0.8 * s)
    rs, ls = (cx - 0.6 * s, cy), (cx + 0.6 * s, cy)
    a = 0.6 * np.sin(phase)
    re = (rs[0] - 0.3 * s, rs[1] + 0.7 * s)
    le = (ls[0] + 0.3 * s, ls[1] + 0.7 * s)
    rw = (re[0] + 0.5 * s * np.sin(a), re[1] + 0.6 * s * np.cos(a))
    lw = (le[0] - 0.5 * s * np.sin(a), le[1] + 0.6 * s * np.cos(a))
    return np.array([head, rs, ls, re, le, rw, lw], dtype=np.float32)


def draw_face(img: np.ndarray, cx: int, cy: int, r: int) -> np.ndarray:
    """A cartoon face that OpenCV's frontal-face cascade detects (eyes, brows, nose, mouth)."""
    cv2.ellipse(img, (cx, cy), (int(r * 0.8), r), 0, 0, 360, (200, 170, 150), -1)
    for sx in (-1, 1):
        cv2.ellipse(img, (cx + sx * int(r * 0.35), cy - int(r * 0.2)), (int(r * 0.18), int(r * 0.09)), 0, 0, 360,
                    (40, 30, 30), -1)
        cv2.line(img, (cx + sx * int(r * 0.2), cy - int(r * 0.4)), (cx + sx * int(r * 0.55), cy - int(r * 0.42)),
                 (60, 40, 30), max(1, r // 12))
    cv2.line(img, (cx, cy - int(r * 0.1)), (cx, cy + int(r * 0.25)), (150, 120, 100), max(1, r // 10))
    cv2.ellipse(img, (cx, cy + int(r * 0.5)), (int(r * 0.3), int(r * 0.08)), 0, 0, 360, (120, 50, 50), -1)
    return img


def draw_figure(img: np.ndarray, joints: np.ndarray, scale: float, face: bool = False) -> np.ndarray:
    t = max(2, int(scale * 0.15))
    for a, b in SKELETON[2:]:
        cv2.line(img, tuple(int(v) for v in joints[a]), tuple(int(v) for v in joints[b]), (240, 200, 40), t)
    neck = tuple(int(v) for v in (joints[1] + joints[2]) / 2)
    cv2.line(img, neck, tuple(int(v) for v in joints[0]), (240, 200, 40), t)
    if face:
        draw_face(img, int(joints[0][0]), int(joints[0][1]), int(scale * 0.32))
    else:
        cv2.circle(img, tuple(int(v) for v in joints[0]), int(scale * 0.35), (230, 180, 150), -1)
    return img


ROOT = Path(__file__).resolve().parents[1]
SIGNER = ROOT / "examples" / "signer.mp4"


def signer() -> tuple[list[np.ndarray], np.ndarray]:
    """The committed example clip (a real person signing, examples/NOTICE.md): its frames (RGB)
    and her head and shoulders in the first frame (3×2), from tests/data/signer_mediapipe.json."""
    import json  # noqa: PLC0415

    with av.open(str(SIGNER)) as f:
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    ref = json.loads((ROOT / "tests" / "data" / "signer_mediapipe.json").read_text())["frames"][0]["joints"]
    return frames, np.array([ref[k][:2] for k in ("head", "right_shoulder", "left_shoulder")], dtype=np.float64)


def paste_person(img: np.ndarray, person: np.ndarray, anchor: np.ndarray, cx: float, cy: float, height: float,
                 flip: bool = False) -> np.ndarray:
    """Paste a person's frame scaled to `height` pixels with its shoulder midpoint at (cx, cy);
    returns the head and shoulders (3×2) where they land (mirrored left/right when flip)."""
    k = height / person.shape[0]
    small = cv2.resize(person, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    pts = anchor * k
    if flip:
        small = np.ascontiguousarray(small[:, ::-1])
        pts = np.stack([small.shape[1] - 1 - pts[:, 0], pts[:, 1]], 1)[[0, 2, 1]]
    mid = (pts[1] + pts[2]) / 2
    x0, y0 = int(round(cx - mid[0])), int(round(cy - mid[1]))
    h, w = img.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(w, x0 + small.shape[1]), min(h, y0 + small.shape[0])
    if dx1 > dx0 and dy1 > dy0:
        img[dy0:dy1, dx0:dx1] = small[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
    return pts + [x0, y0]


def labelled_signer_photos(folder: Path, n: int = 6) -> Path:
    """Photos of the signer at several sizes and places, labelled with her head and shoulders
    (posevid JSON with an image per record): training data for the detector and box refiner tests."""
    from posevid.io.writers import JsonWriter, frame_record  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    clip, anchor = signer()
    w = JsonWriter(folder / "labels.json", {})
    for k in range(n):
        img = texture(240, 320, seed=k)
        pts = paste_person(img, clip[k * 7], anchor, 100 + 20 * k, 110 + 5 * k, 120 + 12 * k)
        cv2.imwrite(str(folder / f"p{k}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        joints = np.vstack([pts, np.zeros((4, 2))])
        rec = frame_record(k, 0.0, joints, np.array([1, 1, 1, 0, 0, 0, 0], float), 0.5)
        rec["image"] = f"p{k}.png"
        w.add(rec)
    w.close({})
    return folder / "labels.json"


def small_run_config(tmp_path: Path, stage: str, labels: Path, iterations: int, out: str = "run",
                     **extra: object) -> Path:
    """A YAML config for a few steps of a small-network training stage (detector, refiner) on
    `labels`, validated on the same labels every 2 steps; `extra` adds or replaces train keys."""
    import yaml  # noqa: PLC0415

    cfg = {"stage": stage, "out": str(tmp_path / out), "optimizer": "adam", "lr": 1e-3, "schedule": "cosine",
           "warmup": 2, "iterations": iterations, "batch_size": 4, "log_every": 1, "validate_every": 2,
           "checkpoint_minutes": 0, "data": [{"type": "posevid", "labels": str(labels)}],
           "validation": [{"type": "posevid", "labels": str(labels)}], **extra}
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump({"train": cfg}))
    return path


def people_video(path: Path, people: list[dict], frames: int = 30, size: tuple[int, int] = (640, 360),
                 fps: int = 25, cuts: tuple[int, ...] = (), bars: int = 0) -> list[list[np.ndarray | None]]:
    """Encode a video of real people (the example clip's signer, pasted) over a texture.

    Each person is a dict: x, y (shoulder midpoint at frame 0, pixels), height (pixels of the pasted
    clip), dx (pixels a frame), flip, and the frames [start, stop) they are in view. Later people are
    drawn in front. Scenes change at `cuts` (another texture); `bars` blacks out that many rows at
    the top and bottom (a letterboxed broadcast). Returns, per frame, each person's
    head and shoulders (3×2 frame pixels) or None when out of view.
    """
    clip, anchor = signer()
    w, h = size
    tints = [(1.0, 1.0, 1.0), (0.4, 0.7, 1.2), (1.2, 0.8, 0.4), (0.6, 1.2, 0.6)]  # a cut changes the colours
    bgs = [np.clip(texture(h, w, seed=10 + i) * tints[i % 4], 0, 255).astype(np.uint8) for i in range(len(cuts) + 1)]
    truth: list[list[np.ndarray | None]] = []
    scene = 0
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            scene += i in cuts
            img = bgs[scene].copy()
            row: list[np.ndarray | None] = []
            for p in people:
                if p.get("start", 0) <= i < p.get("stop", frames):
                    row.append(paste_person(img, clip[i % len(clip)], anchor, p["x"] + p.get("dx", 0.0) * i, p["y"],
                                            p["height"], p.get("flip", False)))
                else:
                    row.append(None)
            truth.append(row)
            if bars:
                img[:bars] = 0
                img[-bars:] = 0
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return truth


def encode_frames(path: Path, frames: list[np.ndarray], fps: int = 25, pix_fmt: str = "yuv420p") -> None:
    """Encode RGB frames (all of the first one's size) as an H.264 video: slideshows and stills."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        for img in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode(None))


def make_video(path: Path, frames: int = 20, size: tuple[int, int] = (160, 120), fps: int = 25,
               audio: bool = False, rotation: int = 0, codec: str = "libx264", moving: bool = True,
               pix_fmt: str = "yuv420p", cuts: tuple[int, ...] = (), fmt: str | None = None,
               figures: list[tuple[float, float, float]] | None = None, speed: float = 1.5,
               options: dict[str, str] | None = None, bars: int = 0,
               audio_codec: str = "aac") -> list[np.ndarray]:
    """Encode a video of a stick figure over a texture; returns the figure's joints per frame.

    `figures` places figures with faces instead: (x, y, scale) as fractions of the frame
    (scale of the smaller side); they move right by `speed` pixels a frame and the first
    one's joints are returned. Scenes change at the frame indices in `cuts`. `bars` blacks
    out that many rows at the top and bottom (a letterboxed broadcast). `audio` adds a 440 Hz
    tone in `audio_codec` (aac, or e.g. pcm_s16le in a Matroska file).
    """
    w, h = size
    out = av.open(str(path), mode="w", format=fmt)
    vs = out.add_stream(codec, rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
    if options:
        vs.options = options
    if rotation:
        if not hasattr(vs, "set_display_rotation"):  # seen with PyAV 16.1 on a GPU machine
            pytest.skip(f"PyAV {av.__version__} cannot write a display rotation (set_display_rotation)")
        vs.set_display_rotation(rotation)
    a_s = None
    if audio:
        a_s = out.add_stream(audio_codec, rate=48000)
        a_s.layout = "mono"
        sample_format = a_s.codec_context.format.name  # what the encoder takes (flt, fltp, s16, ...)
    tints = [(1.0, 1.0, 1.0), (0.4, 0.7, 1.2), (1.2, 0.8, 0.4), (0.6, 1.2, 0.6)]
    bgs = [np.clip(texture(h, w, seed=i) * tints[i % 4], 0, 255).astype(np.uint8) for i in range(len(cuts) + 1)]
    truth = []
    scene = 0
    for i in range(frames):
        if i in cuts:
            scene += 1
        dx = speed * i if moving else 0.0
        img = bgs[scene].copy()
        if figures:
            placed = []
            for fx, fy, fs in figures:
                sc = fs * min(w, h)
                placed.append(figure_joints(fx * w + dx, fy * h, sc, phase=0.3 * i))
                draw_figure(img, placed[-1], sc, face=True)
            truth.append(placed[0])
        else:
            cx = w * (0.35 + 0.3 * (scene % 2)) + dx
            j = figure_joints(cx, h * 0.45, min(w, h) * 0.18, phase=0.3 * i)
            truth.append(j)
            draw_figure(img, j, min(w, h) * 0.18)
        if bars:
            img[:bars] = 0
            img[-bars:] = 0
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        for p in vs.encode(frame):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    if a_s is not None:
        samples = int(48000 * frames / fps)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start:start + 1024][None]
            if sample_format.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            af = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
            af.sample_rate = 48000
            af.pts = start
            af.time_base = Fraction(1, 48000)
            for p in a_s.encode(af):
                out.mux(p)
        for p in a_s.encode(None):
            out.mux(p)
    out.close()
    return truth


def count_frames(path: Path) -> tuple[int, float, bool, tuple[int, int]]:
    """(decoded frames, duration in s from the last frame's time, has audio, (w, h)) of a file."""
    with av.open(str(path)) as c:
        n, last, size = 0, 0.0, (0, 0)
        for f in c.decode(video=0):
            n += 1
            last = f.time
            size = (f.width, f.height)
        return n, last, bool(c.streams.audio), size


def interruptible() -> None:
    """Popen's preexec_fn for a child that a test interrupts with SIGINT: a shell that starts a
    job in the background (nohup ... &) hands its children SIGINT ignored, and Python keeps an
    ignored SIGINT, so Ctrl-C would never reach the run under test."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
