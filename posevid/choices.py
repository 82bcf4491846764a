"""The one home of every closed list of choices a user can give.

The command line builds its click.Choice options from these tuples, config validation checks
YAML values against them, and the modules that implement a choice import the tuple from here,
so that adding a flow method or a pooling is one edit. Nothing heavy is imported: `--help`
must answer without torch.
"""
from __future__ import annotations

FLOW_METHODS: tuple[str, ...] = ("deepflow", "farneback", "dis", "none")
POOL_METHODS: tuple[str, ...] = ("parametric", "sum", "max")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
ROI_MODES: tuple[str, ...] = ("auto", "letterbox")
DEINTERLACE: tuple[str, ...] = ("auto", "on", "off")
HEATMAPS: tuple[str, ...] = ("fusion", "spatial")
#: --person: these words, or N (the N-th person from the left, from 0). `all` follows everyone.
PERSON_RULES: tuple[str, ...] = ("largest", "center", "main", "all")


def valid_person(rule: object) -> bool:
    return str(rule) in PERSON_RULES or str(rule).isdigit()
