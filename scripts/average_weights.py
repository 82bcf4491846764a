"""Average posevid weight files of one lineage into one ("model soup").

    python scripts/average_weights.py A.pt B.pt [C.pt ...] -o SOUP.pt

Legs of one run that start from each other end in nearby minima, and their mean can keep what
each leg gained on different held-out rows (docs/training.md, section 2). Every tensor of the
network and the temporal pooling layer is the plain mean; the files must share a preset, joints
and pooling window (weights.load checks each against the architecture). Exported networks have
their BatchNorm folded into the convolutions, which is linear in each leg's weights but not in
the statistics, so a soup is measured (benchmarks/accuracy.py --model) like any other candidate.

A narrower file of the lineage (say the shipped h128 network that a w128 run was widened from,
train/widen.py) is widened to the widest file's preset first, with the training's default seed,
so it is exactly the wider run's starting point: the mean of a widened run's start and end
interpolates along that run (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from posevid.config import defaults  # noqa: E402
from posevid.network import weights  # noqa: E402
from posevid.network.nets import SpatialNetFusion  # noqa: E402
from posevid.train.widen import widen, widens  # noqa: E402


def _widened(loaded: list[tuple]) -> list[tuple]:
    """Every network of `loaded` at the widest preset among them: narrower ones that it widens
    (same input size, no channel count smaller) are widened as a training run widens its init."""
    widest = max((n.preset for n, _, _ in loaded), key=lambda p: sum(p.spatial) + sum(p.fusion))
    out = []
    for net, pool, meta in loaded:
        if net.preset != widest and widens(net.preset, widest):
            wide = SpatialNetFusion(widest)
            widen(net, wide, seed=defaults()["train"]["seed"])  # the seed a run widens its init with
            net = wide
        out.append((net, pool, meta))
    return out


def average(paths: list[Path], out: Path) -> None:
    loaded = _widened([weights.load(p) for p in paths])
    net, pool, meta = loaded[0]
    for p, (other, other_pool, _) in zip(paths[1:], loaded[1:], strict=True):
        if other.preset != net.preset or (other_pool is None) != (pool is None):
            raise SystemExit(f"{p}: another preset or pooling layer than {paths[0]}")
    states = [n.state_dict() for n, _, _ in loaded]
    with torch.no_grad():
        for k, v in states[0].items():
            if v.is_floating_point():
                v.copy_(torch.stack([st[k] for st in states]).mean(0))
        if pool is not None:
            pool.weight.copy_(torch.stack([q.weight for _, q, _ in loaded]).mean(0))
    # save() writes the architecture (arch, preset, joints, window) from the network itself
    weights.save(out, net, pool, {**meta, "soup": [str(p) for p in paths]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args()
    if len(a.models) < 2:
        raise SystemExit("give at least two weight files")
    average(a.models, a.out)
    print(f"{a.out}: the mean of {len(a.models)} weight files")


if __name__ == "__main__":
    main()
