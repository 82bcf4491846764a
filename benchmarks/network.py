"""Network time per frame in fp32 on the CPU by memory layout and convolution library.

    python benchmarks/network.py [--presets q128,h128] [--batch 16] [--repeats 10]

Three ways to run the same trained network: contiguous NCHW on oneDNN (torch's default),
channels-last on oneDNN (what the pipeline runs in bf16), and NNPACK for the large kernels
(network/runtime.with_nnpack: what the pipeline runs in fp32). Figures are ratios to the NCHW
run of the same preset in the same process, with a check that every way gives the same
heatmaps. Batch 16 is the pipeline's default batch of 8 with flip averaging. Writes
benchmarks/results/network.md.
"""
from __future__ import annotations

import copy
import time

import torch
from common import machine, markdown_table, parser, publish

from posevid.network.nets import SpatialNetFusion
from posevid.network.presets import get_preset
from posevid.network.runtime import nnpack_ready, with_nnpack
from posevid.network.weights import load, shipped_model


def per_frame_ms(net: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    with torch.inference_mode():
        net(x)  # warm-up: allocator and kernel selection
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
    return 1000.0 * (time.perf_counter() - start) / (repeats * x.shape[0])


def main() -> None:
    ap = parser(__doc__, "network", video=False)
    ap.add_argument("--presets", default="q128,h128")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for name in args.presets.split(","):
        try:
            net = load(shipped_model(name))[0]
        except Exception:  # noqa: BLE001 - no shipped weights for this preset: time random ones
            net = SpatialNetFusion(get_preset(name)).eval()
        size = net.preset.input_size
        x = torch.rand(args.batch, 3, size, size)
        with torch.inference_mode():
            ref = net(x)[1]
        nchw = per_frame_ms(net, x, args.repeats)
        rows.append([name, "oneDNN, NCHW (contiguous)", nchw, 1.0, "reference"])
        ways = [("oneDNN, channels-last", net.to(memory_format=torch.channels_last),
                 x.contiguous(memory_format=torch.channels_last))]
        if nnpack_ready():
            fast = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
            with_nnpack(fast)
            ways.append(("NNPACK for kernels of 5 and over", fast, x))
        for label, variant, xv in ways:
            with torch.inference_mode():
                same = torch.allclose(variant(xv)[1], ref, atol=1e-4)
            ms = per_frame_ms(variant, xv, args.repeats)
            rows.append([name, label, ms, ms / nchw, "yes" if same else "NO"])
            print(f"{name}: {label} {ms:.1f} ms a frame ({ms / nchw:.2f} × NCHW)", flush=True)
    text = (f"fp32, batch {args.batch}, {args.repeats} timed batches after one warm-up. Machine: {machine()}.\n\n"
            + markdown_table(["preset", "convolutions", "ms / frame", "× NCHW", "same heatmaps"], rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
