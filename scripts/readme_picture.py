"""Make the README picture: frames of the overlay of the shipped clip, side by side.

    .venv/bin/python scripts/readme_picture.py [--frames 10,30,50] [-o docs/overlay.jpg]

Annotates examples/signer.mp4 with every default (person finding, threshold, window) and the
region of interest drawn, then joins the chosen overlay frames into one JPEG.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from posevid.io.atomic import replacing
from posevid.io.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", default="10,30,50")
    ap.add_argument("--height", type=int, default=400)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "overlay.jpg")
    args = ap.parse_args()
    wanted = [int(v) for v in args.frames.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "posevid.cli", "annotate", str(ROOT / "examples" / "signer.mp4"),
                        "-o", tmp, "-q", "--no-csv", "--show-box"], check=True)
        with VideoReader(Path(tmp) / "signer.mp4") as r:
            frames = {f.index: f.image for f in r.frames() if f.index in wanted}
    tiles = []
    for k in wanted:
        img = frames[k]
        scale = args.height / img.shape[0]
        tiles.append(cv2.resize(img, (round(img.shape[1] * scale), args.height), interpolation=cv2.INTER_AREA))
    picture = np.hstack(tiles)
    with replacing(args.out, keep_suffix=True) as tmp_path:
        cv2.imwrite(str(tmp_path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(args.out)


if __name__ == "__main__":
    main()
