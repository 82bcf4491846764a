"""Shared helpers of the benchmark scripts: test videos, peak memory, one timed annotate run.

Figures are printed as ratios to a baseline run in the same process, so that they compare
settings on one machine rather than claim absolute speeds.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from posevid import settings as annotate_settings
from posevid.annotate import annotate_video
from posevid.io.video import VideoReader
from posevid.pipeline import Annotator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / ".." / "shared" / "data" / "street-video" / "paris-street.avi"
# Label files name their videos by the path given to `posevid label`, often relative to the
# repository root (work-data/videos/...): benchmarks run from there, wherever they are started;
# a video named on the command line is taken relative to where the benchmark was started.
STARTED_IN = Path.cwd()
os.chdir(ROOT)


def resized_copy(source: Path, width: int, height: int, seconds: float | None = None, loop: bool = False,
                 folder: Path | None = None) -> Path:
    """Transcode `source` to width×height H.264 (optionally looped to `seconds`) for a fair, repeatable input."""
    folder = folder or Path(tempfile.mkdtemp(prefix="posevid-bench-"))
    out_path = folder / f"{source.stem}_{width}x{height}_{int(seconds or 0)}s.mp4"
    if out_path.exists():
        return out_path
    with VideoReader(source) as r:
        fps = r.info.fps
        frames = [cv2.resize(f.image, (width, height), interpolation=cv2.INTER_AREA) for f in r.frames()]
    total = len(frames) if seconds is None else int(round(seconds * fps))
    with av.open(str(out_path), "w") as out:
        s = out.add_stream("libx264", rate=int(round(fps)))
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        for i in range(total):
            k = i % len(frames) if loop else min(i, len(frames) - 1)
            if loop and (i // len(frames)) % 2:  # ping-pong so the loop has no jump cut
                k = len(frames) - 1 - k
            for p in s.encode(av.VideoFrame.from_ndarray(frames[k], format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return out_path


def default_preset() -> str:
    """The preset `posevid annotate` uses by default (posevid/defaults.yaml)."""
    return annotate_settings().preset


def shown_path(path: Path) -> Path:
    """A weight file as a results table names it: relative to the repository when inside it, so
    that the committed tables do not carry one machine's folders."""
    full = path.resolve()
    return full.relative_to(ROOT) if full.is_relative_to(ROOT) else path


def default_model() -> Path:
    """The shipped weight file of the default preset: what the benchmarks measure unless told."""
    from posevid.network.weights import shipped_model  # noqa: PLC0415

    return shipped_model(default_preset())


def reset_peak_memory() -> None:
    """Reset the kernel's peak-RSS counter of this process (Linux); harmless elsewhere."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def timed_run(source: Path, out_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Annotate once; return fps, per-stage ms per frame, and peak memory during the run."""
    ann = Annotator(annotate_settings(**overrides))
    reset_peak_memory()
    start = time.perf_counter()
    r = annotate_video(ann, source, out_dir, overwrite=True, progress=False)
    wall = time.perf_counter() - start
    stages = {k: 1000.0 * v / max(1, r.frames) for k, v in ann.clock.seconds.items()}
    doc = json.loads(Path(r.outputs[0]).read_text())
    people = sum(f["status"] == "ok" for f in doc["frames"]) / max(1, r.frames)
    return {"frames": r.frames, "seconds": wall, "fps": r.frames / wall, "ms_per_frame": stages,
            "peak_mb": peak_memory_mb(), "window": ann.window, "people": people}


def bench_input(args: argparse.Namespace, folder: Path) -> tuple[Path, str]:
    """The benchmark's input made from the parser's video, --size and --seconds, and its description."""
    w, h = (int(v) for v in args.size.split("x"))
    seconds = args.seconds or None
    video = resized_copy(args.video, w, h, seconds=seconds, loop=bool(seconds), folder=folder)
    with VideoReader(video) as r:
        frames = r.info.frame_count
    looped = f" looped (ping-pong) to {seconds:g} s" if seconds else ""
    return video, f"{args.video.name}{looped}, {frames} frames at {w}×{h}"


def decode_fps(video: Path) -> float:
    start = time.perf_counter()
    with VideoReader(video) as r:
        n = sum(1 for _ in r.frames())
    return n / (time.perf_counter() - start)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    import os
    import platform

    import torch

    from posevid.network.runtime import native_bf16

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpu = platform.processor() or platform.machine()
    try:  # the CPU's model: which one it is decides the convolution library (network/runtime.py)
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    isa = torch.backends.cpu.get_cpu_capability() + (", bf16 in hardware" if native_bf16() else "")
    return (f"{cpu} ({isa}), {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}, numpy {np.__version__}")


def parser(doc: str, name: str, video: bool = True, held_out: bool = False) -> argparse.ArgumentParser:
    """The arguments every benchmark shares: the input video and its size (when it reads one),
    the training config whose held-out sets it scores (`held_out`: --config, one default for all
    the accuracy benchmarks), and where its Markdown table goes (benchmarks/results/NAME.md)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if held_out:
        ap.add_argument("--config", type=Path, default=ROOT / "configs" / "q128.yaml",
                        help="training config whose `validation` sources are the held-out sets")
    if video:
        ap.add_argument("video", nargs="?", type=lambda p: STARTED_IN / p, default=DEFAULT_SOURCE)
        ap.add_argument("--size", default="640x360")
        ap.add_argument("--seconds", type=float, default=0.0,
                        help="loop the video (ping-pong) to this length; 0 = as it is")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / f"{name}.md")
    return ap


def publish(text: str, out: Path) -> None:
    """Print a result and write it where run_all.sh gathers it."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
