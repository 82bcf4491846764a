"""posevid: upper-body pose in every frame of a video (Flowing ConvNets, Pfister et al., ICCV 2015).

A user's own script needs only this much::

    from posevid import Annotator, VideoReader, settings
    ann = Annotator(settings(flow="dis"))
    with VideoReader("talk.mp4") as video:
        for pose in ann.run(video):            # PoseResult (posevid/result.py)
            print(pose.frame.index, pose.person, pose.joints, pose.confidence)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .joints import JOINTS, SKELETON
from .version import __version__

if TYPE_CHECKING:
    from .config import AnnotateSettings


def __getattr__(name: str) -> Any:
    """Annotator and VideoReader are imported on first use: they pull in torch and PyAV, which
    the command line's --help and --version must not wait for."""
    if name == "Annotator":
        from .pipeline import Annotator

        return Annotator
    if name == "PoseResult":
        from .result import PoseResult

        return PoseResult
    if name == "VideoReader":
        from .io.video import VideoReader

        return VideoReader
    raise AttributeError(f"module 'posevid' has no attribute {name!r}")


def settings(config_file: str | None = None, **overrides: Any) -> AnnotateSettings:
    """The `annotate` settings (a frozen, validated config.AnnotateSettings): packaged defaults,
    then a YAML file, then keyword overrides."""
    from .config import annotate_settings

    return annotate_settings(config_file, **overrides)


__all__ = ["Annotator", "PoseResult", "VideoReader", "settings", "JOINTS", "SKELETON", "__version__"]
