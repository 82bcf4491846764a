"""Error types that reach the user as one line, and the exit codes they map to.

Documented in docs/cli.md: 0 success, 1 some videos in a batch failed, 2 usage error
(click's own), 3 bad input video, 4 output not writable or disk full, 5 model file problem.
"""
from __future__ import annotations


class PosevidError(Exception):
    """Base class: str(error) is the one line the user sees."""

    exit_code = 1


class InputError(PosevidError):
    """The input is missing, not a video, or cannot be decoded."""

    exit_code = 3


class OutputError(PosevidError):
    """An output cannot be written (permissions, full disk, existing file)."""

    exit_code = 4


class ModelError(PosevidError):
    """A weight file is missing, corrupt or for another architecture."""

    exit_code = 5
