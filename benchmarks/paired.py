"""Two models, joint by joint, on the held-out videos as a user runs them.

    python benchmarks/paired.py CANDIDATE.pt [--against models/posevid-h128.pt]

benchmarks/accuracy.py gives each model's PCK on the held-out videos (teacher labels, 0.3 body
scales); a tenth of a point of its upper-body column is about nine of its 9,400 labelled
shoulders, elbows and wrists. Whether a candidate's difference from the shipped model is more
than chance is a paired question: of the joints only one of the two models finds, how many go
each way. This script runs the whole default pipeline of both models on the same frames, counts
those joints per video and overall, and gives the two-sided sign test of that split (exact
binomial). The shipping rule of the
h128 legs reads it for the video row (docs/training.md, section 2).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from accuracy import UPPER, shown_joints, tolerance, within
from common import default_model, markdown_table, parser, publish, shown_path

from posevid import settings as annotate_settings
from posevid.config import section
from posevid.io.video import VideoReader
from posevid.pipeline import Annotator
from posevid.train.datasets import Sample, read_source, videos_of


def hits(auto: Annotator, path: str, labels: dict[int, Sample]) -> tuple[np.ndarray, np.ndarray]:
    """(labelled, found within tolerance): frames × upper-body joints (shoulders, elbows, wrists:
    the joints of accuracy.py's upper-body column) booleans, in frame order."""
    labelled, found = [], []
    with VideoReader(path) as reader:
        for res in auto.run(reader):
            s = labels.get(res.frame.index)
            tol = None if s is None else tolerance(s)
            if tol is None:
                continue
            labelled.append(s.labelled[UPPER])
            found.append((s.labelled & within(shown_joints(res), s.joints, tol))[UPPER])
    return np.array(labelled), np.array(found)


def sign_test(a: int, b: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if either way is
    equally likely."""
    n, k = a + b, min(a, b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def main() -> None:
    ap = parser(__doc__, "paired", video=False, held_out=True)
    ap.add_argument("candidate", type=Path, help="weight file to compare")
    ap.add_argument("--against", type=Path, help="weight file (default: the shipped model of the default preset)")
    args = ap.parse_args()
    base = args.against or default_model()
    # one pipeline per model for all the videos: building one loads and traces its network
    reference, candidate = (Annotator(annotate_settings(model=str(m))) for m in (base, args.candidate))
    rows, only_base, only_cand, total, right = [], 0, 0, 0, [0, 0]
    for spec in section("train", args.config)["validation"]:
        samples = read_source(spec)
        if spec["type"] != "posevid" or not any(s.frame is not None for s in samples):
            continue
        for path, labels in videos_of(samples).items():
            lab, hb = hits(reference, path, labels)
            _, hc = hits(candidate, path, labels)
            n = int(lab.sum())
            if n == 0:  # no frame with the shoulders the tolerance needs (a face close up)
                continue
            b, c = int((hb & ~hc).sum()), int((hc & ~hb).sum())
            rows.append([f"{Path(path).parent.name}/{Path(path).name}", n, round(100 * hb.sum() / n, 2),
                         round(100 * hc.sum() / n, 2), b, c])
            only_base, only_cand, total = only_base + b, only_cand + c, total + n
            right[0] += int(hb.sum())
            right[1] += int(hc.sum())
    rows.append(["all", total, round(100 * right[0] / total, 2), round(100 * right[1] / total, 2),
                 only_base, only_cand])
    # another config's held-out videos (configs/confirm-video.yaml) are named in the title and command
    other = args.config.resolve() != ap.get_default("config").resolve()
    where, flag = (f" of {shown_path(args.config)}", f" --config {shown_path(args.config)}") if other else ("", "")
    text = [f"# Two models joint by joint on the held-out videos{where}, as a user runs them\n",
            f"Shipped or reference: `{shown_path(base)}`. Candidate: `{shown_path(args.candidate)}`. "
            f"`python benchmarks/paired.py CANDIDATE{flag}`. Upper-body PCK (shoulders, elbows, wrists) "
            "within 0.3 body scales of the teacher's "
            "joints, misses include joints not shown.\n",
            markdown_table(["video", "labelled joints", "reference PCK", "candidate PCK",
                            "right only with the reference", "right only with the candidate"], rows),
            f"\nTwo-sided sign test of {only_base} against {only_cand}: p = {sign_test(only_base, only_cand):.3f}"]
    publish("\n".join(text), args.out)


if __name__ == "__main__":
    main()
