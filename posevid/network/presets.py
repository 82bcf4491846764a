"""Model presets as plain data: one named record per network size.

The `paper` preset is the authors' released FLIC fusion model at full width (about
70 GMAC a frame). The narrower presets keep every layer, kernel and the 64×64 output
and only scale channel counts. Measured on 2 CPU cores (batches of 8): `cpu-wide`
(quarter width, the design note's suggestion) 56 ms a frame and 1.4 s a training step;
`cpu` (eighth width) 17 ms a frame and 0.36 s a step, which leaves room for flow,
decoding and encoding at video rate and trains four times as many steps per hour.
`tiny` exists for tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    """Channel widths of SpatialNet (conv1–conv7) and of the fusion layers (fusion1–fusion4)."""

    name: str
    spatial: tuple[int, ...]
    fusion: tuple[int, ...]
    input_size: int = 256
    heatmap_size: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def _scaled(name: str, width: float, input_size: int = 256) -> Preset:
    """Scale the paper's channel counts by `width` (rounded, at least 8); heatmaps are a quarter
    of the input's side, as after the paper's two 2×2 pools."""
    spatial = (128, 128, 128, 256, 512, 256, 256)
    fusion = (64, 64, 128, 256)
    scale = lambda cs: tuple(max(8, int(round(c * width))) for c in cs)  # noqa: E731
    return Preset(name=name, spatial=scale(spatial), fusion=scale(fusion), input_size=input_size,
                  heatmap_size=input_size // 4)


PRESETS: dict[str, Preset] = {
    "paper": _scaled("paper", 1.0),
    "cpu-wide": _scaled("cpu-wide", 0.25),
    "cpu": _scaled("cpu", 0.125),
    # Quarter width on a 128×128 input (32×32 heatmaps, read below the pixel): twice the
    # channels of `cpu` for a quarter of the pixels, 5.6 ms a frame in bf16 (batch 8).
    "q128": _scaled("q128", 0.25, 128),
    # Half width on the same 128×128 input: every channel of q128 doubled, so it can start
    # from q128's weights (train/widen.py); about 3.6 times q128's arithmetic.
    "h128": _scaled("h128", 0.5, 128),
    # h128's layers on a 160×160 input (40×40 heatmaps): the arms seen 1.25 times finer for
    # about 1.56 times the arithmetic; it can start from h128's weights as they are.
    "h160": _scaled("h160", 0.5, 160),
    # Three quarters of the paper's width on a 128×128 input: every channel of h128 × 1.5, so it
    # starts from h128's weights (train/widen.py); 1.7 times h128's time a frame here.
    "w128": _scaled("w128", 0.75, 128),
    "tiny": _scaled("tiny", 0.0625),
}


def get_preset(name: str) -> Preset:
    """Look a preset up by name, with an error that lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
