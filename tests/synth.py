"""Synthetic inputs the tests build for themselves: videos encoded with PyAV, stick figures."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

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


def draw_figure(img: np.ndarray, joints: np.ndarray, scale: float) -> np.ndarray:
    t = max(2, int(scale * 0.15))
    for a, b in SKELETON[2:]:
        cv2.line(img, tuple(int(v) for v in joints[a]), tuple(int(v) for v in joints[b]), (240, 200, 40), t)
    neck = tuple(int(v) for v in (joints[1] + joints[2]) / 2)
    cv2.line(img, neck, tuple(int(v) for v in joints[0]), (240, 200, 40), t)
    cv2.circle(img, tuple(int(v) for v in joints[0]), int(scale * 0.35), (230, 180, 150), -1)
    return img


def make_video(path: Path, frames: int = 20, size: tuple[int, int] = (160, 120), fps: int = 25,
               audio: bool = False, rotation: int = 0, codec: str = "libx264", moving: bool = True,
               pix_fmt: str = "yuv420p", cuts: tuple[int, ...] = (), fmt: str | None = None) -> list[np.ndarray]:
    """Encode a video of a stick figure over a texture; returns the figure's joints per frame."""
    w, h = size
    out = av.open(str(path), mode="w", format=fmt)
    vs = out.add_stream(codec, rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
    if rotation:
        vs.set_display_rotation(rotation)
    a_s = None
    if audio:
        a_s = out.add_stream("aac", rate=48000)
        a_s.layout = "mono"
    bgs = [texture(h, w, seed=i) for i in range(len(cuts) + 1)]
    truth = []
    scene = 0
    for i in range(frames):
        if i in cuts:
            scene += 1
        dx = 1.5 * i if moving else 0.0
        img = bgs[scene].copy()
        cx = w * (0.35 + 0.3 * (scene % 2)) + dx
        j = figure_joints(cx, h * 0.45, min(w, h) * 0.18, phase=0.3 * i)
        truth.append(j)
        draw_figure(img, j, min(w, h) * 0.18)
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
            af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
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
