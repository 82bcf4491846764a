"""How the pose network runs on this machine: the device, the arithmetic (fp32, bf16, fp16) and,
on the CPU, the convolution library (NNPACK's fast algorithms for the large kernels in fp32, else
a frozen TorchScript graph on oneDNN). Choices measured in benchmarks/precision.py and
benchmarks/network.py; the pipeline (pipeline.Annotator) holds a PoseNetwork and asks here and
nowhere else.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..choices import PRECISIONS
from ..errors import ConfigError, ModelError
from ..joints import FLIP_PERMUTATION
from . import weights
from .heatmaps import peaks


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


def detector_dtype(precision: str) -> torch.dtype:
    """The person detector's compute type for the pose network's --precision setting: it always
    runs on the CPU (person/detector.py), so fp16 (a CUDA choice) counts as `auto` there."""
    return pick_precision("auto" if precision == "fp16" else precision, torch.device("cpu"))


def frozen_for_cpu(net: torch.nn.Module, dtype: torch.dtype, size: int) -> Callable[[torch.Tensor], Any]:
    """The network traced and frozen with TorchScript for CPU inference, where oneDNN fuses each
    convolution with its ReLU: 8.5 against 9.8 ms a frame in bf16 (batch 8, 2 cores), the
    same heatmaps bit for bit, about a second to build. Any batch size runs on the traced
    graph. The trace is not checked by running it again against the module (torch's default):
    that check cost 1.8 of annotate's first 2 seconds, and the graph is the module's own.
    Falls back to the module itself if tracing fails (a torch without TorchScript).
    """
    example = torch.zeros(8, 3, size, size, dtype=dtype).contiguous(memory_format=torch.channels_last)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, example, check_trace=False)))
    except Exception:  # noqa: BLE001 - any failure leaves the eager module, which is correct, only slower
        return net


#: Where the network computes in fp32 on the CPU (a CPU without bf16 in hardware, or --precision
#: fp32), convolutions whose kernel is at least this wide run through NNPACK, whose FFT and
#: Winograd algorithms cost a fraction of oneDNN's direct convolution on the 9×9 and 13×13 kernels
#: of SpatialNet and its fusion layers: on 2 AVX2 cores (AMD EPYC, no bf16) the h128 network took
#: 56 instead of 138 ms a crop at batch 16, heatmaps equal within 1e-6 (benchmarks/network.py),
#: and a training step of 16 crops 3.5 instead of 6.0 s (train/pose.py). The 1×1 and 3×3
#: convolutions (and the person detector's) stay on oneDNN, which is faster there.
NNPACK_MIN_KERNEL = 5


class _NnpackConvolution(torch.autograd.Function):
    """Stride-1 'same' convolution by NNPACK, with a backward pass that is NNPACK too for the
    input's gradient (the convolution of the output's gradient with the flipped, transposed
    kernel) and torch's own for the weight's and bias's (NNPACK has no kernel-sized output)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                pad: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.pad, ctx.has_bias = pad, bias is not None
        return torch._nnpack_spatial_convolution(x, weight, bias, [pad, pad], [1, 1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = None
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(2, 3).transpose(0, 1).contiguous()
            grad_x = torch._nnpack_spatial_convolution(grad, flipped, None, [ctx.pad, ctx.pad], [1, 1])
        _, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, [1, 1], [ctx.pad, ctx.pad],
            [1, 1], False, [0, 0], 1, [False, ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]])
        return grad_x, grad_w, grad_b, None


class NnpackConv2d(nn.Conv2d):
    """A Conv2d computed by NNPACK (stride 1, odd kernel, 'same' zero padding, no dilation or
    groups; runtime.with_nnpack checks). Still a Conv2d with the same parameters and state-dict
    keys, so checkpoints, BatchNorm folding and export see no difference."""

    @classmethod
    def of(cls, conv: nn.Conv2d) -> NnpackConv2d:
        """An NnpackConv2d sharing `conv`'s weight and bias (an optimizer over them keeps working)."""
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding,
                  bias=conv.bias is not None, device="meta")
        new.weight, new.bias = conv.weight, conv.bias
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NnpackConvolution.apply(x.contiguous(), self.weight, self.bias, self.padding[0])


def nnpack_ready() -> bool:
    """Whether this torch has NNPACK and it works on this CPU (asking also initialises it, which
    its convolutions need first). Any failure to ask counts as "no"."""
    try:
        return bool(torch._nnpack_available())
    except Exception:  # noqa: BLE001 - a torch built without NNPACK, or an op that moved
        return False


def with_nnpack(net: nn.Module, min_kernel: int = NNPACK_MIN_KERNEL) -> int:
    """Put an NnpackConv2d in place of every Conv2d of `net` that NNPACK can compute and whose
    kernel is at least `min_kernel` wide; returns how many were replaced."""
    count = 0
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if type(child) is not nn.Conv2d:
                continue
            k = child.kernel_size
            if (min(k) >= min_kernel and k[0] == k[1] and k[0] % 2 and child.stride == (1, 1)
                    and child.dilation == (1, 1) and child.groups == 1
                    and child.padding == (k[0] // 2, k[1] // 2) and child.padding_mode == "zeros"):
                setattr(parent, name, NnpackConv2d.of(child))
                count += 1
    return count


def nnpack_where_fp32(net: nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    """The one rule for inference and training alike: a network computing in fp32 on the CPU gets
    its large kernels through NNPACK (NNPACK_MIN_KERNEL). True when any convolution now runs there."""
    return device.type == "cpu" and dtype == torch.float32 and nnpack_ready() and with_nnpack(net) > 0


def flip_mean(out: torch.Tensor, n: int, swap: torch.Tensor) -> torch.Tensor:
    """Heatmaps of `n` crops followed by their mirrored copies (2n×J×H×W), averaged with the
    mirrored ones turned back and their left and right joints (`swap`) exchanged: flip averaging."""
    return (out[:n] + out[n:, swap].flip(3)) / 2


class PoseNetwork:
    """A pose model file loaded for inference here: the network (and its pooling layer and
    training facts) on the chosen device, in the chosen arithmetic, behind one call that turns
    network inputs into heatmaps."""

    def __init__(self, model: str | Path | None, preset: str, device: str = "auto", precision: str = "auto",
                 heatmap: str = "fusion", flip: bool = False):
        self.device = pick_device(device)
        self.path = Path(model) if model else weights.shipped_model(preset)
        self.net, self.pool_layer, self.meta = weights.load(self.path, self.device)
        if self.meta.get("arch") == "coordinate":
            raise ModelError(f"{self.path}: a CoordinateNet baseline; annotate needs a SpatialNet Fusion model")
        # Channels-last (NHWC) convolutions: about a quarter less time a frame on a 2-core CPU
        # with the same results (benchmarks/network.py); on CUDA it suits tensor cores.
        self.net = self.net.to(memory_format=torch.channels_last)
        self.dtype = pick_precision(precision, self.device)
        if self.device.type == "cpu" and self.dtype != torch.float32:
            # On the CPU the weights themselves are converted (a bf16 copy of a 1 MB model):
            # about 10% faster than autocast, which casts them again at every call.
            self.net = self.net.to(self.dtype)
        if self.device.type == "cuda":
            # Every batch has the same shape, so cuDNN's one-off search for the fastest
            # convolution algorithms pays for itself within the first few batches.
            torch.backends.cudnn.benchmark = True
        self.input_size = self.net.preset.input_size
        self.heatmap_size = self.net.preset.heatmap_size
        self.forward: Callable[[torch.Tensor], Any] = self.net
        self.convolutions = "cudnn" if self.device.type == "cuda" else "onednn"
        if nnpack_where_fp32(self.net, self.device, self.dtype):
            self.convolutions = "nnpack"  # eager: NNPACK's op is not one TorchScript's freezing helps
        elif self.device.type == "cpu":
            self.forward = frozen_for_cpu(self.net, self.dtype, self.input_size)
        self.output = 0 if heatmap == "spatial" else 1  # SpatialNet's conv8, or the fusion layers
        # Flip averaging: the network also sees each crop mirrored, and its heatmaps, mirrored back
        # with left and right swapped, are averaged with the plain ones (benchmarks/accuracy.py).
        self.flip = flip
        self.swap = torch.tensor(FLIP_PERMUTATION, device=self.device)

    def describe(self) -> dict[str, Any]:
        """The model part of the output JSON."""
        return {"file": str(self.path), "preset": self.net.preset.name,
                "stage": self.meta.get("stage"), "iterations": self.meta.get("iterations"),
                "window_trained": self.pool_layer.window if self.pool_layer is not None else None,
                "device": str(self.device), "precision": PRECISION_NAMES[self.dtype],
                "convolutions": self.convolutions}

    @torch.inference_mode()
    def heatmaps(self, inputs: list[np.ndarray]) -> torch.Tensor:
        """Heatmaps (B×J×H×W float32) for a batch of RGB network inputs (input_size², uint8)."""
        x = torch.from_numpy(np.stack(inputs)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        if self.flip:
            x = torch.cat([x, x.flip(3)])
        x = x.contiguous(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            # Mixed precision on the GPU: fp32 weights, convolutions in fp16 or bf16 on tensor cores.
            with torch.autocast("cuda", dtype=self.dtype, enabled=self.dtype != torch.float32):
                out = self.net(x)[self.output].float()
        else:
            out = self.forward(x.to(self.dtype))[self.output].float()
        if self.flip:
            out = flip_mean(out, len(inputs), self.swap)
        return out

    def poses(self, inputs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Joints (input pixels) and confidences of single network inputs, without temporal pooling."""
        maps = self.heatmaps(inputs).float().cpu()
        return [peaks(m, self.input_size) for m in maps]
