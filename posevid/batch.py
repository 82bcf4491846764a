"""`posevid batch`: every video under a folder, unattended, resumable, one bad file never stopping the rest.

- Videos are found by probing containers (any file with a video stream), plus every file
  with a video extension, so that a broken .mp4 is reported rather than silently skipped.
- A video whose outputs all exist under their final names is done: outputs are renamed
  into place only when complete (NAME.json last), so a run killed at any moment
  (Ctrl-C, kill -9, power loss) leaves only hidden .part files. The next run continues a
  video from its last checkpoint (every `resume_every` frames, resume.py) or, without one,
  removes them and redoes it.
- OUT_DIR/manifest.jsonl gets one JSON line per attempt (status, frames, seconds,
  settings, error), written by the parent process only.
- --workers N runs N processes, each with its own network and cores/N torch threads;
  --ray ADDRESS runs one Ray task per video on an existing cluster instead.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .config import AnnotateSettings
from .errors import INTERNAL_ERROR, InputError, PosevidError
from .io import resume
from .io.atomic import write_text_atomic

MANIFEST = "manifest.jsonl"
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
                  ".wmv", ".flv", ".3gp", ".ogv", ".mxf", ".dv", ".vob"}
SKIP_SUFFIXES = {".json", ".csv", ".txt", ".md", ".jsonl", ".yaml", ".yml", ".srt", ".vtt", ".jpg", ".jpeg",
                 ".png", ".pdf", ".part", ".py", ".xml", ".html"}


@dataclass
class Outcome:
    """One attempt at one video, as recorded in the manifest."""

    video: str
    status: str            # done | failed | skipped
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = 0
    warnings: list[str] | None = None


def find_videos(in_dir: Path) -> list[Path]:
    """Every video under in_dir (recursive, sorted): by extension, or by probing the container."""
    from .io.video import is_video  # noqa: PLC0415

    found = []
    for p in sorted(in_dir.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(in_dir).parts):
            continue
        suffix = p.suffix.lower()
        if suffix in VIDEO_SUFFIXES or (suffix not in SKIP_SUFFIXES and is_video(p)):
            found.append(p)
    return found


def out_dir_for(video: Path, in_dir: Path, out_dir: Path) -> Path:
    return out_dir / video.relative_to(in_dir).parent


def is_complete(video: Path, in_dir: Path, out_dir: Path, settings: AnnotateSettings) -> bool:
    from .annotate import output_paths  # noqa: PLC0415

    return all(p.exists() for p in output_paths(video, out_dir_for(video, in_dir, out_dir), settings).values())


def remove_stale_parts(video: Path, in_dir: Path, out_dir: Path) -> None:
    """Delete temporary files a killed run left for this video, unless a resume checkpoint
    describes them (annotate_video then checks it and continues, or starts over)."""
    folder = out_dir_for(video, in_dir, out_dir)
    if folder.is_dir() and not resume.checkpoint_path(folder / f"{video.stem}.json").exists():
        for p in folder.glob(f".{video.stem}.*.part"):
            p.unlink(missing_ok=True)


# --- the work of one video (runs in a worker process or a Ray task) ---------------------------------

_ANNOTATOR = None


def _init_worker(settings: AnnotateSettings, threads: int) -> None:
    import torch  # noqa: PLC0415

    from .pipeline import Annotator  # noqa: PLC0415

    global _ANNOTATOR
    torch.set_num_threads(max(1, threads))
    _ANNOTATOR = Annotator(settings)


def process_one(video: str, in_dir: str, out_dir: str, overwrite: bool) -> dict[str, Any]:
    """Annotate one video; never raises for bad input, returns an Outcome as a dict."""
    from .annotate import annotate_video  # noqa: PLC0415

    start = time.time()
    rel = str(Path(video).relative_to(in_dir))
    try:
        assert _ANNOTATOR is not None
        r = annotate_video(_ANNOTATOR, Path(video), out_dir_for(Path(video), Path(in_dir), Path(out_dir)),
                           overwrite=overwrite, progress=False)
        return asdict(Outcome(rel, "done", r.frames, round(r.seconds, 2), warnings=r.warnings))
    except PosevidError as e:
        return asdict(Outcome(rel, "failed", 0, round(time.time() - start, 2), str(e), e.exit_code))
    except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
        error = f"internal error: {type(e).__name__}: {e}"
        return asdict(Outcome(rel, "failed", 0, round(time.time() - start, 2), error, INTERNAL_ERROR))


def _ray_process(settings: AnnotateSettings, threads: int, video: str, in_dir: str, out_dir: str,
                 overwrite: bool) -> dict[str, Any]:
    if _ANNOTATOR is None:
        _init_worker(settings, threads)
    return process_one(video, in_dir, out_dir, overwrite)


# --- the batch ------------------------------------------------------------------------------------

class Manifest:
    """One current JSON line per video: its latest outcome, and how many attempts it took.

    A rerun replaces a video's line instead of appending another, so the manifest reads as the
    state of the folder. Every update rewrites the file atomically (temporary file, fsync,
    rename), so a crash leaves the previous complete manifest, never a torn line.
    """

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by an older version's crash
                if isinstance(rec, dict) and "video" in rec:
                    self.entries[rec["video"]] = rec

    def add(self, outcome: dict[str, Any], settings_id: str) -> None:
        attempts = int(self.entries.get(outcome["video"], {}).get("attempts", 0)) + 1
        self.entries[outcome["video"]] = {**outcome, "settings": settings_id, "attempts": attempts,
                                          "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in self.entries.values()))

    def close(self) -> None:
        """Nothing is held open between updates."""


def run_batch(in_dir: Path, out_dir: Path, settings: AnnotateSettings, workers: int = 1, overwrite: bool = False,
              ray_address: str | None = None, on_outcome: Callable[[dict[str, Any]], None] | None = None
              ) -> list[dict[str, Any]]:
    """Process every video under in_dir; returns the outcomes of this run (skipped ones included)."""
    from .annotate import ensure_writable_dir  # noqa: PLC0415

    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: not a folder")
    ensure_writable_dir(out_dir)
    videos = find_videos(in_dir)
    manifest = Manifest(out_dir / MANIFEST)
    sid = settings.fingerprint()
    outcomes: list[dict[str, Any]] = []

    def record(o: dict[str, Any]) -> None:
        manifest.add(o, sid)
        outcomes.append(o)
        if on_outcome:
            on_outcome(o)

    todo = []
    for v in videos:
        if not overwrite and is_complete(v, in_dir, out_dir, settings):
            o = asdict(Outcome(str(v.relative_to(in_dir)), "skipped"))
            outcomes.append(o)
            if on_outcome:
                on_outcome(o)
            continue
        remove_stale_parts(v, in_dir, out_dir)
        todo.append(v)
    try:
        for o in _dispatch(todo, in_dir, out_dir, settings, workers, overwrite, ray_address):
            record(o)
    finally:
        manifest.close()
    return outcomes


def _dispatch(todo: list[Path], in_dir: Path, out_dir: Path, settings: AnnotateSettings, workers: int,
              overwrite: bool, ray_address: str | None) -> Iterator[dict[str, Any]]:
    cores = os.cpu_count() or 1
    args = (str(in_dir), str(out_dir), overwrite)
    if ray_address:
        try:
            import ray  # noqa: PLC0415
        except ImportError:
            raise PosevidError("--ray needs Ray: pip install 'posevid[cluster]'") from None
        ray.init(address=ray_address, ignore_reinit_error=True, log_to_driver=False)
        task = ray.remote(num_cpus=1)(_ray_process)
        pending = [task.remote(settings, 1, str(v), *args) for v in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
        return
    if workers <= 1:
        _init_worker(settings, cores)
        for v in todo:
            yield process_one(str(v), *args)
        return
    import multiprocessing as mp  # noqa: PLC0415

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(settings, max(1, cores // workers))) as pool:
        futures = {pool.submit(process_one, str(v), *args) for v in todo}
        while futures:
            done, futures = wait(futures, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()


def summary_table(outcomes: list[dict[str, Any]]) -> str:
    """The table printed at the end of a batch: one line per video, then totals."""
    width = max([len(o["video"]) for o in outcomes] + [5])
    lines = [f"{'video':{width}s}  {'status':7s} {'frames':>7s} {'seconds':>8s}  error"]
    for o in outcomes:
        error = o["error"] or ""
        lines.append(f"{o['video']:{width}s}  {o['status']:7s} {o['frames']:7d} {o['seconds']:8.1f}  {error}")
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines.append(f"{len(outcomes)} videos: {counts['done']} done, {counts['skipped']} already done, "
                 f"{counts['failed']} failed")
    return "\n".join(lines)
