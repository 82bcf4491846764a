"""posevid: upper-body pose in every frame of a video (Flowing ConvNets, Pfister et al., ICCV 2015).

A user's own script needs only this much::

    from posevid import Annotator, VideoReader, settings
    ann = Annotator(settings(flow="dis"))
    with VideoReader("talk.mp4") as video:
        for state, record in ann.run(video):
            print(record["index"], record["joints"]["right_wrist"])
"""
from __future__ import annotations

from typing import Any

from .annotate import __version__
from .joints import JOINTS, SKELETON
from .pipeline import Annotator
from .video import VideoReader


def settings(config_file: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The `annotate` settings: packaged defaults, then a YAML file, then keyword overrides."""
    from .config import section

    return section("annotate", config_file, **overrides)


__all__ = ["Annotator", "VideoReader", "settings", "JOINTS", "SKELETON", "__version__"]
