"""Cost and agreement of optical-flow settings at the size the pipeline computes flow.

    python benchmarks/flow_presets.py [VIDEO] [--size 640x360]

For consecutive frames of a real video (letterboxed into the network input, then shrunk to
the flow size as the pipeline does), times DIS at its three presets and Farneback, and
measures how far each one's flow, at heatmap resolution, lies from DIS MEDIUM's (mean
end-point difference in heatmap pixels; 1 heatmap pixel = 4 network-input pixels).
posevid's `dis` uses the ULTRAFAST preset. Writes benchmarks/results/flow_presets.md.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import machine, markdown_table, parser, publish, resized_copy

from posevid import settings
from posevid.io.video import VideoReader
from posevid.person.roi import crop, letterbox
from posevid.temporal.flow import flow_image, make_flow, to_heatmap

PRESETS = {"DIS ultrafast (posevid dis)": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
           "DIS fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "DIS medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def main() -> None:
    ap = parser(__doc__, "flow_presets")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    video = resized_copy(args.video, w, h, folder=Path(tempfile.mkdtemp(prefix="posevid-bench-")))
    s = settings()
    flow_size, heatmap = s.flow_size, 64
    with VideoReader(video) as r:
        greys = [flow_image(crop(f.image, letterbox(w, h), 256), flow_size) for f in r.frames()]
    methods = {name: (lambda p: (lambda a, b, d=cv2.DISOpticalFlow_create(p): d.calc(a, b, None)))(p)
               for name, p in PRESETS.items()}
    methods["Farneback (posevid farneback)"] = make_flow("farneback")
    flows, cost = {}, {}
    for name, fn in methods.items():
        fn(greys[0], greys[1])
        start = time.perf_counter()
        flows[name] = [to_heatmap(fn(a, b), heatmap) for a, b in zip(greys, greys[1:], strict=False)]
        cost[name] = 1000.0 * (time.perf_counter() - start) / (len(greys) - 1)
    ref = flows["DIS medium"]
    rows = []
    for name in methods:
        epe = np.mean([np.linalg.norm(f - g, axis=2).mean() for f, g in zip(flows[name], ref, strict=True)])
        rows.append([name, cost[name], cost[name] / cost["DIS medium"], float(epe)])
    text = (f"Input: {args.video.name} at {w}×{h}, {len(greys) - 1} frame pairs, flow on {flow_size}×{flow_size}, "
            f"compared at {heatmap}×{heatmap}. Machine: {machine()}.\n\n"
            + markdown_table(["flow", "ms / pair", "× DIS medium", "difference from DIS medium (heatmap px)"], rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
