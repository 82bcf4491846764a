"""Reading the top-level box layout of an MP4 file (ISO-BMFF), to check how it was written.

Used to verify that overlays are browser-streamable: the index (`moov`) must come before
the media data (`mdat`), which is what `movflags=+faststart` arranges.
"""
from __future__ import annotations

import struct
from pathlib import Path


def top_level_boxes(path: str | Path) -> list[str]:
    """The types of the top-level boxes in file order, e.g. ['ftyp', 'moov', 'mdat']."""
    types = []
    with open(path, "rb") as f:
        size_total = f.seek(0, 2)
        pos = 0
        while pos + 8 <= size_total:
            f.seek(pos)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:  # 64-bit size follows
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:  # box runs to the end of the file
                size = size_total - pos
            types.append(kind.decode("latin-1"))
            if size < 8:
                break
            pos += size
    return types


def is_faststart(path: str | Path) -> bool:
    """Whether `moov` precedes `mdat`, so playback can start while the file is still loading."""
    boxes = top_level_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
