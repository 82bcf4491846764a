"""Plot a training run's curves: the training loss, and the held-out PCK per joint type (pose
network), the held-out recall and precision (person detector) or the share of held-out boxes
framed well before and after refinement (box refiner).

    python -m posevid.train.plot_curves runs/q128 -o curves.png

Reads OUT/loss.csv and OUT/validation.csv, which the training loop writes as it runs; the
schedule is chosen from these curves, and the shipped model's are committed beside it.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from ..joints import JOINT_TYPES
from . import figures

#: A refiner run's curves: its held-out examples' boxes (drawn errors), and the detector's own
#: boxes of photos it does not train on (real_), each before and after refinement.
REFINER_CURVES = ("good_before", "good_after", "real_good_before", "real_good_after")


def read_csv(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def plot_curves(run: Path, out: Path, smooth: int = 20) -> Path:
    """A two-panel PNG: training loss (smoothed over `smooth` log rows) and validation PCK."""
    import numpy as np  # noqa: PLC0415

    plt = figures.pyplot()

    loss = read_csv(run / "loss.csv")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    steps, values = np.array(loss["step"]), np.array(loss["loss"])
    a.plot(steps, values, color="0.8", lw=0.5)
    if len(values) >= smooth:
        kernel = np.ones(smooth) / smooth
        a.plot(steps[smooth - 1:], np.convolve(values, kernel, mode="valid"), color="C0", label="training loss")
        a.legend()
    a.set_xlabel("step")
    a.set_ylabel("training loss")
    a.set_yscale("log")
    a.grid(alpha=0.3)
    lr = a.twinx()
    lr.plot(steps, loss["lr"], color="C3", lw=0.8, alpha=0.6)
    lr.set_ylabel("learning rate", color="C3")
    val_path = run / "validation.csv"
    kind = "pose"
    if val_path.exists():
        val = read_csv(val_path)
        # a pose run's PCK per joint type, a refiner's framing, or a detector's recall and precision
        kind = "pose" if "mean" in val else "refiner" if "good_after" in val else "detector"
        names = {"pose": (*JOINT_TYPES, "mean"), "refiner": [k for k in REFINER_CURVES if k in val],
                 "detector": [k for k in val if k not in ("step", "elapsed_s", "ms_per_frame")]}[kind]
        for name in names:
            wide = name in ("mean", "good_after", "real_good_after")
            b.plot(val["step"], val[name], marker=".", label=name, lw=2 if wide else 1)
    b.set_xlabel("step")
    b.set_ylabel({"pose": "held-out PCK (%), labelled box", "detector": "held-out recall and precision (%)",
                  "refiner": "boxes framed well (%); real_: the detector's"}[kind])
    b.set_ylim(0, 100)
    b.grid(alpha=0.3)
    b.legend(loc="lower right")
    return figures.save(fig, out, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a training run's output folder (train.out)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    print(plot_curves(args.run, args.out))


if __name__ == "__main__":
    main()
