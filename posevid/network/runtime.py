"""How the pose network runs on this machine: the device, the arithmetic (fp32, bf16, fp16) and,
on the CPU, a frozen TorchScript graph. Choices measured in benchmarks/precision.py and
benchmarks/network.py; the pipeline (pipeline.Annotator) asks here and nowhere else.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..choices import PRECISIONS
from ..errors import ConfigError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but this torch has no CUDA device")
    return torch.device(name)


PRECISION_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX or AVX512-BF16).

    Elsewhere torch emulates bf16 and it is slower than fp32, so `auto` keeps fp32 there.
    The checks are private torch helpers; any failure to ask counts as "no".
    """
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # noqa: BLE001 - older torch without these helpers
        return False


def pick_precision(name: str, device: torch.device) -> torch.dtype:
    """The network's compute type: `auto` is fp16 on CUDA, bf16 on CPUs that have it natively,
    else fp32. Heatmaps come back as float32 whatever the choice."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r} ({', '.join(PRECISIONS)})")
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and native_bf16() else torch.float32
    if name == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    return {v: k for k, v in PRECISION_NAMES.items()}[name]


def frozen_for_cpu(net: torch.nn.Module, dtype: torch.dtype, size: int) -> Callable[[torch.Tensor], Any]:
    """The network traced and frozen with TorchScript for CPU inference, where oneDNN fuses each
    convolution with its ReLU: 8.5 against 9.8 ms a frame in bf16 (batch 8, 2 cores), the
    same heatmaps bit for bit, about a second to build. Any batch size runs on the traced
    graph. Falls back to the module itself if tracing fails (a torch without TorchScript).
    """
    example = torch.zeros(8, 3, size, size, dtype=dtype).contiguous(memory_format=torch.channels_last)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, example)))
    except Exception:  # noqa: BLE001 - any failure leaves the eager module, which is correct, only slower
        return net
