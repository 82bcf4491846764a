"""Accuracy on human-labelled photos from collections no training run has read (issue 12).

    python benchmarks/unseen.py --set NAME LABELS.json IMAGES [--set ...] [--model FILE]

Each set is a COCO-style keypoints file (any layout that names its points: COCO, Human3.6M,
CrowdPose, AI Challenger, PoseTrack, JHMDB; datasets.read_coco) and its image folder. Without
--set it reads the labelled test images that mmpose ships in tests/data (Apache-2.0 code; the
photos keep their datasets' terms: use them here, never commit them), unpacked into
work-data/mmpose (docs/training.md says how). Only photos with exactly one labelled person (five
or more points) count: "as a user" follows one person, and the label must be that person.

Per set, as in benchmarks/accuracy.py: posevid as a user runs it (automatic person finding,
default threshold), posevid given the labelled box, the constant prior (given the box) and
MediaPipe Pose on the whole photo; PCK@0.2 torso (right shoulder to left hip). These sets are a
few photos each: read them as a check of the held-out figures, not as figures of their own.
"""
from __future__ import annotations

import sys
from pathlib import Path

from accuracy import Scores, mean_prior, read_photo
from common import ROOT, default_model, machine, markdown_table, parser, publish

from posevid import settings as annotate_settings
from posevid.config import section
from posevid.person.roi import Roi, body_box
from posevid.pipeline import Annotator
from posevid.train.datasets import Sample, read_coco

MMPOSE = ROOT / "work-data" / "mmpose" / "tests" / "data"
#: (name, labels, images) of the mmpose test images used when no --set is given.
DEFAULT_SETS = (
    ("Human3.6M (studio)", "h36m/h36m_coco.json", "h36m"),
    ("JHMDB (video frames)", "jhmdb/test_jhmdb_sub1.json", "jhmdb"),
    ("COCO", "coco/test_coco.json", "coco"),
    ("Human-Art", "humanart/test_humanart.json", "humanart"),
    ("OCHuman", "ochuman/test_ochuman.json", "ochuman"),
    ("PoseTrack18", "posetrack18/annotations/test_posetrack18_val.json", "posetrack18"),
    ("AI Challenger", "aic/test_aic.json", "aic"),
    ("CrowdPose", "crowdpose/test_crowdpose.json", "crowdpose"),
)

#: A set gets rows of its own from this many photos; smaller ones count only in "all".
SHOWN_FROM = 3


def single_people(labels: Path, images: Path) -> list[tuple[Sample, Roi]]:
    """The samples of photos with exactly one labelled person that have a torso, each with its
    crop-rule box; images are looked for under `images` by their name when the file's path does
    not lead there."""
    samples = read_coco(labels, images, min_keypoints=0)
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.source] = counts.get(s.source, 0) + (int(s.labelled.sum()) >= 5)
    found = []
    for s in samples:
        box = body_box(s.joints, s.labelled)
        if counts[s.source] != 1 or s.labelled.sum() < 5 or s.torso is None or box is None:
            continue
        path = Path(s.source)
        if not path.exists():
            path = next(iter(sorted(images.rglob(path.name))), path)
        if path.exists():
            found.append((Sample(str(path), None, s.joints, s.labelled, torso=s.torso), box))
    return found


def main() -> None:
    ap = parser(__doc__, "unseen", video=False)
    ap.add_argument("--set", nargs=3, action="append", metavar=("NAME", "LABELS", "IMAGES"), default=[])
    ap.add_argument("--model", type=Path, help="weight file (default: the shipped model of the default preset)")
    ap.add_argument("--no-mediapipe", action="store_true")
    args = ap.parse_args()
    sets = [(n, Path(lab), Path(im)) for n, lab, im in args.set] or \
        [(n, MMPOSE / lab, MMPOSE / im) for n, lab, im in DEFAULT_SETS if (MMPOSE / lab).exists()]
    if not sets:
        sys.exit(f"no labelled sets: give --set, or unpack mmpose's tests/data into {MMPOSE.parent.parent}")
    model = args.model or default_model()
    prior = mean_prior(section("train", ROOT / "configs" / "q128.yaml")["data"])
    auto = Annotator(annotate_settings(model=str(model)))
    boxed = Annotator(annotate_settings(model=str(model), threshold=0.0))
    teacher = None
    if not args.no_mediapipe:
        try:
            from posevid.train.teacher import Teacher

            teacher = Teacher(video=False)
        except Exception as e:  # noqa: BLE001 - MediaPipe is an optional extra
            print(f"MediaPipe not available ({e}); its column is left out", file=sys.stderr)
    methods = {"auto": "posevid, as a user runs it", "box": "posevid, labelled box", "prior": "constant prior",
               **({"mediapipe": "MediaPipe Pose"} if teacher is not None else {})}
    rows = []
    total = {k: Scores() for k in methods}
    count = 0
    for name, labels, images in sets:
        scores = {k: Scores() for k in methods}
        people = single_people(labels, images)
        for s, box in people:
            _, found, _ = read_photo(s, box, auto, boxed, prior, teacher)
            for k, pred in found.items():
                scores[k].add(s, pred)
                total[k].add(s, pred)
        count += len(people)
        if len(people) >= SHOWN_FROM:
            rows += [[f"{name} ({len(people)})", methods[k], *v.row()] for k, v in scores.items()]
        print(f"  {name}: {len(people)} photos", file=sys.stderr, flush=True)
    rows += [[f"all ({count})", methods[k], *v.row()] for k, v in total.items()]
    header = ["set (photos)", "method", *Scores.COLUMNS]
    shown_model = model.resolve().relative_to(ROOT) if model.resolve().is_relative_to(ROOT) else model
    text = [f"# Accuracy on unseen labelled photos\n\nModel: `{shown_model}`. Machine: {machine()}.\n"
            "`python benchmarks/unseen.py`: one-person photos of collections no training run read (by "
            "default mmpose's test images); PCK@0.2 torso, misses include joints not shown. A few photos "
            "a set: a check of the held-out figures, not figures of their own.\n",
            markdown_table(header, [[r[0], r[1], *[round(v, 1) for v in r[2:]]] for r in rows])]
    publish("\n".join(text), args.out)


if __name__ == "__main__":
    main()
