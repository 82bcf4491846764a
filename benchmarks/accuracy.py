"""Accuracy as a user gets it, beside the two baselines every table must show (issue 12).

    python benchmarks/accuracy.py [--model FILE] [--detector FILE] [--config configs/q128.yaml]

On the held-out sets of the training config (its `validation` sources: labelled photos and
teacher-labelled videos that training never saw), per set:

- posevid as a user runs it: automatic person finding, default threshold, default window
  (photos one at a time, each a one-frame input; videos whole);
- posevid given the labelled box (the crop rule from the labels), every joint reported:
  pose accuracy alone, without person finding or the visibility threshold;
- the constant prior: every joint at its mean position in the crop-rule box over the
  training labels, placed in the labelled box (a generous baseline: it is given the box);
- MediaPipe Pose 0.10.14 on the whole frame (needs posevid[teacher]); on teacher-labelled
  video it is the reference by construction, so its row there reads 100 minus its jitter;
- on photos, the labelled-box run and MediaPipe again for people upright, lying and upside
  down (LEANS: the head's angle from straight up above the shoulders), where sports photos
  differ most.

Metric: PCK, a joint is right when within 0.2 × torso (shoulder to opposite hip) where the
labels have hips (photos), else within 0.3 body scales (max of shoulder width and 1.6 ×
head-to-shoulder distance; on LSP the median torso is 1.64 body scales, so 0.3 body scales
is about 0.2 torso). A joint reported not visible, or in a frame where nobody was found,
counts as a miss. "upper body" averages shoulders, elbows and wrists, as
../shared/eval/score.py does. The threshold table shows, for the labelled-box run, how many
labelled joints each confidence threshold keeps and how many of those kept are right.

Also reports ../shared/eval (the reserved LSP photos: report, never tune) with its own scorer.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from common import ROOT, default_model, machine, markdown_table, parser, publish, shown_path

from posevid import settings as annotate_settings
from posevid.config import section
from posevid.io.images import ImageReader
from posevid.io.video import VideoReader
from posevid.joints import FLIP_PERMUTATION, JOINT_TYPES, NUM_JOINTS
from posevid.person.roi import Roi, body_box, body_scale
from posevid.pipeline import Annotator
from posevid.result import PoseResult
from posevid.train.datasets import Sample, iterate_sources, label_regions, read_source, videos_of
from posevid.train.detector import empty_parts, load_people, place_native

TYPES = list(JOINT_TYPES)
UPPER = [j for t in ("shoulders", "elbows", "wrists") for j in JOINT_TYPES[t]]
THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
SHARED_EVAL = ROOT / ".." / "shared" / "eval"


def tolerance(sample: Sample) -> float | None:
    """The distance within which a joint counts as right (frame pixels), None without a scale."""
    if sample.torso is not None:
        return 0.2 * sample.torso
    scale = body_scale(sample.joints, sample.labelled)
    return None if scale is None else 0.3 * scale


def within(pred: np.ndarray | None, targets: np.ndarray, tol: float) -> np.ndarray:
    """Per joint, whether the prediction (frame pixels, NaN = not reported; None = nobody found)
    lies within `tol` of its target: what every table here counts as right."""
    if pred is None:
        return np.zeros(len(targets), dtype=bool)
    return np.nan_to_num(np.linalg.norm(pred - targets, axis=1), nan=np.inf) <= tol


class Scores:
    """Hits and counts per joint, over every labelled joint of a set, for one method."""

    #: What row() gives, in order: PCK per joint type, upper body, how many upper-body joints are
    #: shown, how many shown are right, and how many land on the other side's label instead of
    #: their own (a right wrist found at the left wrist): the share of the misses that is a
    #: question of which side, not where.
    COLUMNS = (*TYPES, "upper body", "% shown", "% of shown right", "% on the other side")

    def __init__(self) -> None:
        self.hit = np.zeros(NUM_JOINTS)
        self.n = np.zeros(NUM_JOINTS)
        self.visible = np.zeros(NUM_JOINTS)
        self.visible_hit = np.zeros(NUM_JOINTS)
        self.other_side = np.zeros(NUM_JOINTS)

    def add(self, sample: Sample, pred: np.ndarray | None, shown: np.ndarray | None = None) -> None:
        """pred: 7×2 frame pixels (NaN = not reported) or None (nobody found)."""
        tol = tolerance(sample)
        if tol is None:
            return
        lab = sample.labelled
        if pred is None:
            pred = np.full((NUM_JOINTS, 2), np.nan)
        ok = within(pred, sample.joints, tol)
        side = list(FLIP_PERMUTATION)
        other = lab[side] & within(pred, sample.joints[side], tol) & ~ok
        shown = np.isfinite(pred).all(1) if shown is None else shown
        self.n += lab
        self.hit += lab & ok
        self.visible += lab & shown
        self.visible_hit += lab & shown & ok
        self.other_side += lab & other

    def row(self) -> list[float]:
        """The COLUMNS, in percent."""
        pck = [100 * self.hit[list(JOINT_TYPES[t])].sum() / max(1, self.n[list(JOINT_TYPES[t])].sum()) for t in TYPES]
        upper = 100 * self.hit[UPPER].sum() / max(1, self.n[UPPER].sum())
        shown = 100 * self.visible[UPPER].sum() / max(1, self.n[UPPER].sum())
        precise = 100 * self.visible_hit[UPPER].sum() / max(1, self.visible[UPPER].sum())
        other = 100 * self.other_side[UPPER].sum() / max(1, self.n[UPPER].sum())
        return [*pck, upper, shown, precise, other]


#: Photos split by how the labelled person lies: the angle of the head from straight up above the
#: shoulders' midpoint (degrees), each group below its bound and at or above the one before.
LEANS = (("upright", 45.0), ("lying", 135.0), ("upside down", math.inf))


def lean_span(k: int) -> str:
    """The angles of LEANS[k] in words, for the table."""
    low, high = (LEANS[k - 1][1] if k else 0.0), LEANS[k][1]
    if not low:
        return f"within {high:g}°"
    return f"over {low:g}°" if math.isinf(high) else f"{low:g}–{high:g}°"


def lean(sample: Sample) -> str:
    """Whether the labelled person is upright, lying or upside down (LEANS), from head and shoulders."""
    up = sample.joints[0] - (sample.joints[1] + sample.joints[2]) / 2
    angle = abs(math.degrees(math.atan2(up[0], -up[1])))
    return next(name for name, bound in LEANS if angle < bound)


def shown_joints(res: PoseResult) -> np.ndarray | None:
    """A result's joints as the user gets them: NaN where not shown, None when nobody was found."""
    if res.joints is None:
        return None
    return np.where(res.visible[:, None], res.joints, np.nan)


def mean_prior(train_sources: list[dict]) -> np.ndarray:
    """Each joint's mean position in the crop-rule box, as fractions of its side (7×2)."""
    total, count = np.zeros((NUM_JOINTS, 2)), np.zeros(NUM_JOINTS)
    for s in iterate_sources(train_sources):
        box = body_box(s.joints, s.labelled)
        if box is None:
            continue
        rel = (s.joints - [box.x, box.y]) / box.side
        total[s.labelled] += rel[s.labelled]
        count += s.labelled
    return total / np.maximum(count, 1)[:, None]


def read_photo(sample: Sample, box: Roi, auto: Annotator, boxed: Annotator, prior: np.ndarray,
               photo_teacher) -> tuple[np.ndarray, dict[str, np.ndarray | None], PoseResult]:  # noqa: ANN001
    """One labelled photo by the methods every table shows: posevid as a user runs it ("auto"),
    with the labelled `box`, the constant prior placed in that box, and MediaPipe on the whole photo
    (when `photo_teacher` is given). Returns the photo, each method's joints (NaN where not shown,
    None when nobody was found) and the labelled-box result (its confidences)."""
    with ImageReader(Path(sample.source)) as reader:
        frame = next(reader.frames()).image
        found = {"auto": shown_joints(next(auto.run(reader)))}
    with ImageReader(Path(sample.source)) as reader:
        res = next(boxed.run(reader, regions=lambda f: box))
    found["box"] = shown_joints(res)
    found["prior"] = prior * box.side + [box.x, box.y]
    if photo_teacher is not None:
        pose = photo_teacher(frame)
        found["mediapipe"] = None if pose is None else pose[0]
    return frame, found, res


def evaluate_photos(samples: list[Sample], auto: Annotator, boxed: Annotator, prior: np.ndarray, teacher,  # noqa: ANN001
                    conf_log: list, backgrounds: list[np.ndarray]) -> dict[str, Scores]:
    """Each photo as it is and (auto_wide) at its native size off-centre in a 1280×720 frame of
    held-out background or drawn clutter, the same for every run (seeded by the photo's place)."""
    scores = {k: Scores() for k in ("auto", "auto_wide", "auto_slides", "box", "prior", "mediapipe",
                                    "mediapipe_wide", *(f"box {name}" for name, _ in LEANS),
                                    *(f"mediapipe {name}" for name, _ in LEANS))}
    tmp = Path(tempfile.mkdtemp(prefix="posevid-wide-"))
    slides: list[tuple[np.ndarray, Sample]] = []
    for i, s in enumerate(samples):
        box = body_box(s.joints, s.labelled)
        if box is None:
            continue
        image, found, res = read_photo(s, box, auto, boxed, prior, None if teacher is None else teacher["photo"])
        group = lean(s)
        for k, pred in found.items():
            scores[k].add(s, pred)
        scores[f"box {group}"].add(s, found["box"])
        conf_log.append((s, found["box"], res.confidence))
        if teacher is not None:
            scores[f"mediapipe {group}"].add(s, found["mediapipe"])
        rng = np.random.default_rng([2, i])
        bg = backgrounds[i % len(backgrounds)] if backgrounds and i % 2 else None
        if max(image.shape[:2]) < 700:
            wide, offset = place_native(image, rng, bg)
            cv2.imwrite(str(tmp / "wide.png"), cv2.cvtColor(wide, cv2.COLOR_RGB2BGR))
            with ImageReader(tmp / "wide.png") as reader:
                found_wide = shown_joints(next(auto.run(reader)))
            moved = Sample(s.source, None, s.joints + offset, s.labelled, torso=s.torso)
            scores["auto_wide"].add(moved, found_wide)
            slides.append((wide, moved))
            if teacher is not None:
                pose = teacher["photo"](wide)
                scores["mediapipe_wide"].add(moved, None if pose is None else pose[0])
    evaluate_slides(slides, auto, tmp / "slides.mp4", scores["auto_slides"])
    return scores


def evaluate_slides(slides: list[tuple[np.ndarray, Sample]], auto: Annotator, path: Path, scores: Scores) -> None:
    """The wide frames as one 10 fps video, one photo a frame (as ../shared/eval/lsp80_wide is
    made, with our own held-out photos): a video is followed, not read afresh each frame, so this
    measures whether the tracker notices that each frame shows someone else somewhere else."""
    import av  # noqa: PLC0415

    if not slides:
        return
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.height, vs.width = slides[0][0].shape[:2]
        vs.pix_fmt = "yuv420p"
        for img, _ in slides:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode(None))
    with VideoReader(path) as reader:
        for res in auto.run(reader):
            scores.add(slides[res.frame.index][1], shown_joints(res))


def evaluate_video(path: str, labels: dict[int, Sample], auto: Annotator, boxed: Annotator, prior: np.ndarray,
                   teacher, conf_log: list, scores: dict[str, Scores]) -> None:  # noqa: ANN001
    with VideoReader(path) as reader:
        for res in auto.run(reader):
            s = labels.get(res.frame.index)
            if s is not None:
                scores["auto"].add(s, shown_joints(res))
    with VideoReader(path) as reader:
        for res in boxed.run(reader, regions=label_regions(labels)):
            s = labels.get(res.frame.index)
            if s is None or body_box(s.joints, s.labelled) is None:
                continue
            scores["box"].add(s, shown_joints(res))
            conf_log.append((s, shown_joints(res), res.confidence))
            box = body_box(s.joints, s.labelled)
            scores["prior"].add(s, prior * box.side + [box.x, box.y])
            if teacher is not None:
                found = teacher["video"](res.frame.image)
                scores["mediapipe"].add(s, None if found is None else found[0])


def threshold_table(conf_log: list) -> list[list]:
    """For each threshold: % of labelled upper-body joints kept (conf ≥ t) and % of kept that are right."""
    rows = []
    for t in THRESHOLDS:
        kept = right = total = 0
        for s, xy, conf in conf_log:
            tol = tolerance(s)
            if tol is None:
                continue
            lab = s.labelled[UPPER]
            d = np.linalg.norm(xy[UPPER] - s.joints[UPPER], axis=1)
            keep = lab & (conf[UPPER] >= t)
            total += lab.sum()
            kept += keep.sum()
            right += (keep & (np.nan_to_num(d, nan=np.inf) <= tol)).sum()
        rows.append([t, round(100 * kept / max(1, total), 1), round(100 * right / max(1, kept), 1),
                     round(100 * right / max(1, total), 1)])
    return rows


def shared_eval(model: Path, detector: Path | None = None) -> list[list]:
    """../shared/eval as its README runs it: whole pipeline, one photo a frame, its own scorer."""
    rows = []
    if not (SHARED_EVAL / "score.py").exists():
        return rows
    for name in ("lsp80", "lsp80_wide"):
        video, gt = SHARED_EVAL / f"{name}.mp4", SHARED_EVAL / f"{name}_gt.json"
        if not video.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "posevid.cli", "annotate", str(video), "-o", tmp, "--window", "0",
                            "--no-video", "--no-csv", "--model", str(model), "-q", "--overwrite",
                            *(["--detector", str(detector)] if detector else [])], check=True)
            out = subprocess.run([sys.executable, str(SHARED_EVAL / "score.py"), str(gt), f"{tmp}/{name}.json"],
                                 capture_output=True, text=True, check=True).stdout
        r = json.loads(out)
        rows.append([name, r["PCK@0.2"], r["shoulders@0.2"], r["elbows@0.2"], r["wrists@0.2"]])
    return rows


def main() -> None:
    ap = parser(__doc__, "accuracy", video=False, held_out=True)
    ap.add_argument("--model", type=Path, help="weight file (default: the shipped model of the default preset)")
    ap.add_argument("--detector", type=Path, help="person detector weight file (default: the shipped one)")
    ap.add_argument("--no-mediapipe", action="store_true")
    args = ap.parse_args()
    model = args.model or default_model()
    cfg = section("train", args.config)
    prior = mean_prior(cfg["data"])
    person = {"detector": str(args.detector)} if args.detector else {}
    auto = Annotator(annotate_settings(model=str(model), **person))
    boxed = Annotator(annotate_settings(model=str(model), threshold=0.0))
    teacher = None
    if not args.no_mediapipe:
        try:
            from posevid.train.teacher import Teacher

            teacher = {"photo": Teacher(video=False), "video": None}
        except Exception as e:  # noqa: BLE001 - MediaPipe is an optional extra
            print(f"MediaPipe not available ({e}); its column is left out", file=sys.stderr)
    conf_log: list = []
    header = ["set", "method", *Scores.COLUMNS]
    rows = []
    names = {"auto": "posevid, as a user runs it",
             "auto_wide": "posevid as a user runs it, photo small and off-centre in a 1280×720 frame",
             "auto_slides": "posevid as a user runs it, those 1280×720 frames as one 10 fps video",
             "box": "posevid, labelled box", "prior": "constant prior",
             "mediapipe": "MediaPipe Pose", "mediapipe_wide": "MediaPipe Pose, photo small in a 1280×720 frame",
             **{f"{who} {name}": f"{label}, people {name} (head {lean_span(k)} of straight up)"
                for who, label in (("box", "posevid, labelled box"), ("mediapipe", "MediaPipe Pose"))
                for k, (name, _) in enumerate(LEANS)}}
    video_scores = {k: Scores() for k in names}
    photo_sets = []
    for spec in cfg["validation"]:
        samples = read_source(spec)
        if spec["type"] == "posevid" and any(s.frame is not None for s in samples):
            for path, labels in videos_of(samples).items():
                if teacher is not None:
                    from posevid.train.teacher import Teacher

                    teacher["video"] = Teacher(video=True)
                evaluate_video(path, labels, auto, boxed, prior, teacher, conf_log, video_scores)
                print(f"  {Path(path).name}: done", file=sys.stderr, flush=True)
        else:
            photo_sets.append((f"{spec['type']} {spec.get('first', '')}-{spec.get('last', '')}", samples))
    held_videos = [s for spec in cfg["validation"] for s in read_source(spec) if s.frame is not None]
    backgrounds = empty_parts([p for p in load_people(held_videos, every=10)])
    for name, samples in photo_sets:
        scores = evaluate_photos(samples, auto, boxed, prior, teacher, conf_log, backgrounds)
        rows += [[f"photos ({name}, human labels)", names[k], *v.row()] for k, v in scores.items()
                 if not k.startswith("mediapipe") or teacher is not None]
        print(f"  photos {name}: done", file=sys.stderr, flush=True)
    rows += [["held-out videos (teacher labels)", names[k], *v.row()] for k, v in video_scores.items()
             if k in ("auto", "box", "prior") or (k == "mediapipe" and teacher is not None)]
    shown_model = shown_path(model)
    detector = f" Person detector: `{args.detector}`." if args.detector else ""
    text = [f"# Accuracy on held-out data\n\nModel: `{shown_model}`.{detector} Machine: {machine()}.\n"
            "`python benchmarks/accuracy.py`. PCK: 0.2 torso on photos, 0.3 body scales on video; misses include "
            "joints not shown and frames where nobody was found. The constant prior is given the labelled box, "
            "which the crop rule derives from head and shoulders, so its head and shoulders are flattered; its "
            "elbows and wrists are the fair comparison. On teacher-labelled video MediaPipe is the reference.\n",
            markdown_table(header, [[r[0], r[1], *[round(v, 1) for v in r[2:]]] for r in rows]),
            "\n## Confidence threshold (labelled box, upper-body joints, all held-out sets)\n",
            markdown_table(["threshold", "% of labelled joints shown", "% of shown right", "% of all right"],
                           threshold_table(conf_log))]
    reserved = shared_eval(model, args.detector)
    if reserved:
        text += ["\n## ../shared/eval (reserved LSP photos; reported, never tuned on)\n",
                 markdown_table(["input", "upper-body PCK@0.2", "shoulders", "elbows", "wrists"], reserved)]
    publish("\n".join(text), args.out)


if __name__ == "__main__":
    main()
