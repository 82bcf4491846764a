"""The package version, from the installed package's metadata (pyproject.toml is its one home).

Kept in a module of its own that imports nothing heavy, so that `posevid --version` and
`posevid --help` answer without loading torch.
"""
from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("posevid")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
