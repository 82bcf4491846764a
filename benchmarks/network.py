"""Network time per frame by memory layout: contiguous NCHW (torch's default) against channels-last.

    python benchmarks/network.py [--presets cpu,cpu-wide] [--batch 8] [--repeats 10]

The pipeline runs SpatialNet Fusion channels-last (pipeline.Annotator); this shows why, as
ratios to the NCHW run of the same preset in the same process, and checks that both layouts
give the same heatmaps. Writes benchmarks/results/network.md.
"""
from __future__ import annotations

import time

import torch
from common import machine, markdown_table, parser, publish

from posevid.network.nets import SpatialNetFusion
from posevid.network.presets import get_preset
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
    ap.add_argument("--presets", default="cpu,cpu-wide")
    ap.add_argument("--batch", type=int, default=8)
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
        net = net.to(memory_format=torch.channels_last)
        xl = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            same = torch.allclose(net(xl)[1], ref, atol=1e-4)
        nhwc = per_frame_ms(net, xl, args.repeats)
        rows.append([name, "NCHW (contiguous)", nchw, 1.0, "reference"])
        rows.append([name, "channels-last", nhwc, nhwc / nchw, "yes" if same else "NO"])
        print(f"{name}: NCHW {nchw:.1f} ms, channels-last {nhwc:.1f} ms a frame", flush=True)
    text = (f"Batch {args.batch}, {args.repeats} timed batches after one warm-up. Machine: {machine()}.\n\n"
            + markdown_table(["preset", "layout", "ms / frame", "× NCHW", "same heatmaps"], rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
