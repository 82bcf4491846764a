"""The one home of writing files atomically: under a temporary name beside the final one, then
renamed over it, so that a reader (or a rerun after a crash) sees the old file or the whole new
one, never a half-written one.

Temporary names are hidden (`.NAME.part`), which batch and resume rely on to tell unfinished
work from finished outputs.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_path(final: Path) -> Path:
    """The temporary name an output is written under before it is renamed to `final`."""
    return final.with_name(f".{final.name}.part")


def commit(temp: Path, final: Path) -> None:
    """Make a finished temporary file visible under its final name."""
    os.replace(temp, final)


def discard(temp: Path) -> None:
    try:
        temp.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def replacing(final: str | os.PathLike, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write `final` through; renamed to `final` when the block ends
    normally, removed when it raises. `keep_suffix` keeps the extension last (`.NAME.part.png`)
    for writers that choose the format from it (matplotlib, OpenCV)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.stem}.part{final.suffix}") if keep_suffix else temp_path(final)
    try:
        yield temp
    except BaseException:
        discard(temp)
        raise
    commit(temp, final)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a whole small text file, synced to disk before it replaces the old one."""
    with replacing(path) as temp, open(temp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
