"""Frames per second of the whole `annotate` run and time per stage, for each preset, flow method and window.

    python benchmarks/throughput.py [VIDEO] [--size 640x360] [--seconds 20] [--presets cpu] [--windows 0,3,7,15]
                                    [--people all]

Prints a Markdown table (also written to benchmarks/results/throughput.md); fps are also
given as a ratio to the baseline run (the default preset without flow) in the same process.
`--people all` adds the default settings with --person all (everyone in view: the street
clip has about five people a frame), with the mean number of people annotated a frame.
The clip is looped to 20 s by default: our users' videos are long, and the 4-second street
clip as it is measures mostly the first search for a person (`--seconds 0` runs it so).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from common import bench_input, decode_fps, default_preset, machine, markdown_table, parser, publish, timed_run

from posevid.config import annotate_settings

STAGES = ("crop", "network", "flow", "warp+pool", "draw", "encode")


def main() -> None:
    ap = parser(__doc__, "throughput")
    ap.set_defaults(seconds=20.0)
    ap.add_argument("--presets", default=default_preset())
    ap.add_argument("--flows", default="dis,farneback,deepflow")
    ap.add_argument("--windows", default="0,3,7,15")
    ap.add_argument("--devices", default="cpu" + (",cuda" if torch.cuda.is_available() else ""))
    ap.add_argument("--people", default="", help="person rules run with the default settings besides (e.g. all)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="posevid-bench-"))
    video, described = bench_input(args, tmp)
    rows = []
    baseline = None
    default_person = annotate_settings().person  # the default job's rule (main), as a user runs it
    for device in args.devices.split(","):
        for preset in args.presets.split(","):
            configs = [("none", 0)] + [(f, int(n)) for f in args.flows.split(",") for n in args.windows.split(",")
                                       if int(n) > 0]
            runs = [(flow, n, default_person) for flow, n in configs]
            runs += [("dis", max(n for _, n in configs), rule) for rule in filter(None, args.people.split(","))]
            for flow, n, rule in runs:
                r = timed_run(video, tmp / "out", preset=preset, device=device, flow=flow, window=n, person=rule)
                baseline = baseline or r["fps"]
                ms = r["ms_per_frame"]
                temporal = ms.get("flow", 0.0) + ms.get("warp+pool", 0.0)
                rows.append([device, preset, flow, n, rule, round(r["people"], 2), r["fps"], r["fps"] / baseline,
                             *[ms.get(s, 0.0) for s in STAGES], temporal / ms["network"], r["peak_mb"]])
                print(f"{device} {preset} {flow} n={n} person={rule}: {r['fps']:.1f} fps", flush=True)
    header = ["device", "preset", "flow", "n", "person", "people a frame", "fps", "× baseline",
              *[f"{s} ms" for s in STAGES], "temporal / network", "peak MB"]
    text = (f"Input: {described}, decode alone "
            f"{decode_fps(video):.0f} fps. Machine: {machine()}. Stage times are per frame and overlap "
            "(decode, network and encode run in separate threads), so they do not add up to 1/fps.\n\n"
            + markdown_table(header, rows))
    publish(text, args.out)


if __name__ == "__main__":
    main()
