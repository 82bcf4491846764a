"""Error types that reach the user as one line, and the exit codes they map to.

Documented in docs/cli.md: 0 success, 1 some videos in a batch failed, 2 usage error
(click's own, or a bad setting in a config file), 3 bad input video, 4 output not writable
or disk full, 5 model file problem, 70 internal error (a bug), 130 interrupted.
"""
from __future__ import annotations

import errno
from pathlib import Path

#: Exit codes that no exception class carries.
SOME_FAILED = 1
USAGE = 2
INTERNAL_ERROR = 70
INTERRUPTED = 130


class PosevidError(Exception):
    """Base class: str(error) is the one line the user sees."""

    exit_code = SOME_FAILED


class ConfigError(PosevidError):
    """A setting is invalid (bad YAML, unknown key, value out of range, a device that is absent):
    the same exit code as a bad command-line option, because it is one."""

    exit_code = USAGE


class InputError(PosevidError):
    """The input is missing, not a video, or cannot be decoded."""

    exit_code = 3


class OutputError(PosevidError):
    """An output cannot be written (permissions, full disk, existing file)."""

    exit_code = 4


class ModelError(PosevidError):
    """A weight file is missing, corrupt or for another architecture."""

    exit_code = 5


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) with the one line that says what really happened to the work."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def output_error(path: Path | str, e: BaseException) -> OutputError:
    """The one-line OutputError for a failed write: full disk, permissions, or the system's reason."""
    code = getattr(e, "errno", None)
    reason = getattr(e, "strerror", None) or str(e).splitlines()[0] if str(e) else type(e).__name__
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return OutputError(f"{path}: disk full ({reason})")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{path}: not writable ({reason})")
    return OutputError(f"{path}: cannot write ({reason})")
