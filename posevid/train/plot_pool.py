"""Plot the learned temporal pooling weights per joint (the paper's figure 9).

    python -m posevid.train.plot_pool MODEL.pt -o pool_weights.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ModelError
from ..joints import JOINTS
from ..network import weights
from . import figures


def plot_pool_weights(model: Path, out: Path) -> Path:
    plt = figures.pyplot()
    _, pool, meta = weights.load(model)
    if pool is None:
        raise ModelError(f"{model}: has no pooling layer")
    w = pool.weight.detach().cpu().numpy()
    n = pool.window
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, name in enumerate(JOINTS):
        ax.plot(range(-n, n + 1), w[j], marker=".", label=name.replace("_", " "))
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("frame offset from t")
    ax.set_ylabel("pooling weight")
    ax.set_title(f"Learned temporal pooling weights (n = {n})")
    ax.legend(fontsize=7)
    return figures.save(fig, out, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=Path("pool_weights.png"))
    args = ap.parse_args()
    print(plot_pool_weights(args.model, args.out))


if __name__ == "__main__":
    main()
