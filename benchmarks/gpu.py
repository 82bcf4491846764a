"""The `paper` preset on a CUDA GPU: network throughput by batch size and precision, and whole runs.

    python benchmarks/gpu.py [VIDEO] [--size 640x360] [--batches 1,8,32,64]

Issue #5 asks, on a GPU, for the paper-width network at 100 fps or more without flow and
50 fps with it, batched and in mixed precision. Two tables: (1) the network alone on random
inputs, by batch size and precision (fp32, fp16 and bf16 autocast, channels-last), timed with
CUDA events after a warm-up, as ratios to fp32 at batch 1; (2) whole `annotate` runs on the
video with and without flow (after one untimed run that pays for CUDA's start and cuDNN's
algorithm search), for the paper preset and for the shipped cpu preset.

Speed does not depend on the weights' values, and no paper-width model is shipped (it is
too big to train on the project's CPUs), so the paper preset runs with freshly initialised
weights: its fps are real, its joints are not. Such weights never find anyone, so the paper
preset runs on the whole frame (--roi letterbox) rather than making the person search scan
every frame in vain; the cpu preset runs with the default automatic region.
Writes benchmarks/results/gpu.md.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from common import bench_input, default_preset, machine, markdown_table, parser, publish, timed_run

from posevid.network import weights
from posevid.network.nets import SpatialNetFusion, TemporalPool
from posevid.network.presets import get_preset

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def network_fps(net: torch.nn.Module, batch: int, dtype: torch.dtype | None, repeats: int = 20) -> float:
    """Frames per second of the network alone on one batch size, timed with CUDA events."""
    size = net.preset.input_size
    x = torch.rand(batch, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype or torch.float16, enabled=dtype is not None):
        for _ in range(3):  # warm-up: cuDNN algorithm search, allocator
            net(x)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            net(x)
        end.record()
        torch.cuda.synchronize()
    return repeats * batch / (start.elapsed_time(end) / 1000.0)


def untrained_model(folder: Path, window: int = 15) -> Path:
    """A paper-preset weight file with fresh weights and an untrained pooling layer (timing only)."""
    path = folder / "paper-untrained.pt"
    torch.manual_seed(0)
    weights.save(path, SpatialNetFusion(get_preset("paper")), TemporalPool(window), {"stage": "untrained"})
    return path


def main() -> None:
    ap = parser(__doc__, "gpu")
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--run-batch", type=int, default=32, help="batch size of the whole annotate runs")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu.py: this torch sees no CUDA device")
    torch.backends.cudnn.benchmark = True
    net = SpatialNetFusion(get_preset("paper")).eval().cuda().to(memory_format=torch.channels_last)
    rows, base = [], None
    for precision, dtype in PRECISIONS.items():
        for b in (int(v) for v in args.batches.split(",")):
            fps = network_fps(net, b, dtype)
            base = base or fps
            rows.append(["paper", precision, b, fps, fps / base])
            print(f"network paper {precision} batch {b}: {fps:.0f} fps", flush=True)
    del net
    tmp = Path(tempfile.mkdtemp(prefix="posevid-gpu-"))
    video, described = bench_input(args, tmp)
    model = untrained_model(tmp)
    runs = []
    paper = {"model": str(model), "pool": "sum", "roi": "letterbox"}
    timed_run(video, tmp / "out", preset="paper", device="cuda", batch_size=args.run_batch, **paper)  # warm-up
    for preset, extra in (("paper", paper), (default_preset(), {})):
        for flow in ("none", "dis"):
            r = timed_run(video, tmp / "out", preset=preset, device="cuda", flow=flow,
                          batch_size=args.run_batch, **extra)
            ms = r["ms_per_frame"]
            runs.append([preset, extra.get("roi", "auto"), flow, r["window"], r["fps"],
                         *[ms.get(k, 0.0) for k in ("crop", "network", "flow", "warp+pool", "draw", "encode")]])
            print(f"annotate {preset} flow {flow}: {r['fps']:.1f} fps", flush=True)
    text = (f"Machine: {machine()}. The paper preset's weights are freshly initialised (speed only).\n\n"
            "Network alone, channels-last, random 256×256 inputs, 20 timed batches after 3 warm-ups "
            "(CUDA events):\n\n"
            + markdown_table(["preset", "precision", "batch", "fps", "× fp32 batch 1"], rows)
            + f"\n\nWhole `annotate` runs on {described} (batch {args.run_batch}, fp16 "
            "autocast, overlay video and CSV written; stage times per frame overlap):\n\n"
            + markdown_table(["preset", "region", "flow", "n", "fps", "crop ms", "network ms", "flow ms",
                              "warp+pool ms", "draw ms", "encode ms"], runs))
    publish(text, args.out)


if __name__ == "__main__":
    main()
