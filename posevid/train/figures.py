"""Plots without a screen: matplotlib on its Agg backend, figures saved atomically.

matplotlib is an optional extra (posevid[eval]); it is imported only when a plot is made.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io.atomic import replacing


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def save(fig: Any, path: Path, dpi: int = 100) -> Path:
    """Lay out, write atomically (the format from the suffix) and close a figure."""
    fig.tight_layout()
    with replacing(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
    return path
