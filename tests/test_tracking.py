"""Finding and following people (posevid/person/tracking.py with the shipped person detector), on videos
of a real person (the example clip's signer) pasted into textured frames at known places."""
from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from synth import encode_frames, paste_person, people_video, signer, texture

from posevid.cli import main
from posevid.io.schema import validate
from posevid.io.video import VideoReader
from posevid.io.writers import draw_people, frame_record
from posevid.joints import PERSON_COLOURS
from posevid.person.detector import PersonDetector
from posevid.person.tracking import PHOTO_THRESHOLD, PersonTracker


def run_auto(tmp_path, model, video, *extra):
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(model),
                                  "-q", "--no-csv", *extra])
    assert r.exit_code == 0, r.output
    return json.loads((tmp_path / "o" / f"{video.stem}.json").read_text())


def inside(box, point) -> bool:
    x, y, w, h = box
    return x < point[0] < x + w and y < point[1] < y + h


def test_auto_region_follows_a_small_off_centre_person_walking_across(tmp_path, tiny_model):
    video = tmp_path / "wide.mp4"
    truth = people_video(video, [{"x": 120, "y": 220, "height": 160, "dx": 6}], frames=40)
    doc = run_auto(tmp_path, tiny_model, video, "--show-box")
    found = [(f["box"], t[0]) for f, t in zip(doc["frames"], truth, strict=True) if f["box"] is not None]
    assert len(found) >= 36
    for box, head_shoulders in found:
        shoulders = head_shoulders[1:].mean(0)
        width = np.linalg.norm(head_shoulders[1] - head_shoulders[2])
        assert inside(box, shoulders) and inside(box, head_shoulders[0])    # the person is inside
        assert 0.12 < width / box[2] < 0.35                                 # framed at body scale (1/4.5)
    assert found[-1][0][0] > found[0][0][0] + 150  # it moved with the person (6 px a frame)


@pytest.mark.parametrize("rule,expect", [("largest", 2), ("center", 1), ("main", 1), ("0", 0)])
def test_person_rule_chooses_among_three_people(tmp_path, tiny_model, rule, expect):
    video = tmp_path / "three.mp4"
    people = [{"x": 100, "y": 220, "height": 150}, {"x": 330, "y": 200, "height": 150},
              {"x": 540, "y": 230, "height": 210}]
    truth = people_video(video, people, frames=6)
    doc = run_auto(tmp_path, tiny_model, video, "--person", rule, "--no-video")
    box = doc["frames"][-1]["box"]
    assert inside(box, truth[-1][expect][1:].mean(0))
    centre = box[0] + box[2] / 2
    assert abs(centre - truth[-1][expect][1:, 0].mean()) < 40


def test_no_person_in_view_reports_joints_not_visible(tmp_path, tiny_model):
    video = tmp_path / "empty.mp4"
    people_video(video, [], frames=5, size=(320, 240))
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "--no-video"])
    assert r.exit_code == 0
    assert "no person found in any frame" in r.output
    doc = json.loads((tmp_path / "o" / "empty.json").read_text())
    assert all(f["status"] == "no_person" and f["box"] is None for f in doc["frames"])
    assert not any(j["visible"] for f in doc["frames"] for j in f["joints"].values())
    assert np.isclose(doc["summary"]["no_person_frames"], 5)


def test_a_long_stretch_with_nobody_in_view_gets_one_warning(tmp_path, tiny_model):
    """A person for 1.5 s, then 48.5 s of an empty scene (2 fps): once the tracker's hold (frames,
    allowing for the pipeline's lag) runs out, frames are reported without a person, and the
    stretch gets one warning with its times."""
    video = tmp_path / "leaves.mp4"
    people_video(video, [{"x": 160, "y": 150, "height": 140, "stop": 3}], frames=100, size=(320, 240), fps=2)
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "--no-video", "--no-csv"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "leaves.json").read_text())
    status = [f["status"] for f in doc["frames"]]
    assert status[0] == "ok" and status[-1] == "no_person"
    warned = [w for w in doc["summary"]["warnings"] if w.startswith("nobody in view")]
    assert len(warned) == 1 and warned[0].endswith("to 0:00:49"), warned
    assert r.output.count("nobody in view") == 1


def track_ids(video, truth) -> list[list[int | None]]:
    """Run the tracker over a video; per frame, the id of the track on each person (None: none)."""
    tracker = PersonTracker("largest")
    ids = []
    with VideoReader(video) as reader:
        for frame in reader.frames():
            tracks = tracker.update(frame.image, frame.index)
            row = []
            for person in truth[frame.index]:
                on = [t.id for t in tracks if person is not None and inside(t.roi.as_xywh(), person[1:].mean(0))
                      and abs(t.roi.x + t.roi.side / 2 - person[1:, 0].mean()) < 0.25 * t.roi.side]
                row.append(on[0] if len(on) == 1 else None)
            ids.append(row)
    return ids


def switches(ids: list[list[int | None]], person: int) -> int:
    """How many times the id on a person changes (frames without one are skipped)."""
    seen = [row[person] for row in ids if row[person] is not None]
    return sum(a != b for a, b in zip(seen, seen[1:], strict=False))


def test_ids_stay_with_two_people_who_cross(tmp_path):
    video = tmp_path / "cross.mp4"
    people = [{"x": 110, "y": 210, "height": 200, "dx": 5}, {"x": 530, "y": 220, "height": 230, "dx": -5, "flip": True}]
    truth = people_video(video, people, frames=84)
    ids = track_ids(video, truth)
    assert switches(ids, 0) == 0 and switches(ids, 1) == 0, ids
    before, after = ids[10], ids[-1]
    assert None not in before and None not in after and before == after and before[0] != before[1]


def test_people_entering_leaving_and_a_cut(tmp_path):
    """Three people: A throughout, B leaves at frame 20 and comes back long after the hold (a new
    id), C enters at frame 30; a cut at frame 110 gives everyone new ids."""
    video = tmp_path / "scene.mp4"
    people = [{"x": 110, "y": 200, "height": 180}, {"x": 320, "y": 210, "height": 170, "stop": 20},
              {"x": 530, "y": 215, "height": 190, "start": 30}]
    back = 20 + PersonTracker().hold + 30
    truth = people_video(video, people + [{**people[1], "start": back, "stop": 130}], frames=130, cuts=(110,))
    truth = [[row[0], row[1] if row[1] is not None else row[3], row[2]] for row in truth]  # B's two visits
    ids = track_ids(video, truth)
    a, b, c = (sorted({row[k] for row in ids[:110] if row[k] is not None}) for k in range(3))
    assert len(a) == 1 and len(c) == 1, ids
    assert len(b) == 2 and b[1] > c[0], ids                 # B came back as someone new
    assert all(row[2] is not None for row in ids[30 + 8:110])  # C was found within a detection's wait
    after = {row[k] for row in ids[111:] for k in range(3) if row[k] is not None}
    assert len(after) == 3 and min(after) > max(a + b + c)  # the cut: new ids for all


def test_a_real_person_in_a_photo_is_found(tmp_path, tiny_model):
    clip, anchor = signer()
    img = texture(360, 640, seed=3)
    head_shoulders = paste_person(img, clip[0], anchor, 420, 200, 220)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    doc = run_auto(tmp_path, tiny_model, path)
    assert doc["frames"][0]["status"] == "ok"
    assert inside(doc["frames"][0]["box"], head_shoulders[1:].mean(0))


def test_person_all_writes_every_person_with_their_own_id(tmp_path, tiny_model):
    """--person all: one record per person in view per frame (JSON, CSV, OpenPose export), each
    person keeping one id while in view; B, back long after leaving, and everyone after the cut
    get new ones."""
    video = tmp_path / "scene.mp4"
    people = [{"x": 110, "y": 200, "height": 180}, {"x": 320, "y": 210, "height": 170, "stop": 20},
              {"x": 530, "y": 215, "height": 190, "start": 30}]
    truth = people_video(video, people + [{**people[1], "start": 110, "stop": 160}], frames=160, fps=10,
                         cuts=(140,))
    truth = [[row[0], row[1] if row[1] is not None else row[3], row[2]] for row in truth]
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "-q", "--person", "all", "--threshold", "0"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "scene.json").read_text())
    validate(doc)
    records: dict[int, list[dict]] = {}
    for f in doc["frames"]:
        records.setdefault(f["index"], []).append(f)
    assert sorted(records) == list(range(160))
    ids = []  # per frame, the id of the record on each true person (None: none)
    for i, row in enumerate(truth):
        on = []
        for person in row:
            hits = [f["person"] for f in records[i] if person is not None and f["box"] is not None
                    and inside(f["box"], person[1:].mean(0)) and inside(f["box"], person[0])
                    and abs(f["box"][0] + f["box"][2] / 2 - person[1:, 0].mean()) < 0.25 * f["box"][2]]
            on.append(hits[0] if len(hits) == 1 else None)
        ids.append(on)
    in_view = [(i, k) for i, row in enumerate(truth) for k in range(3) if row[k] is not None and i % 140 >= 8]
    assert sum(ids[i][k] is not None for i, k in in_view) >= 0.95 * len(in_view)  # everyone, nearly every frame
    a, b, c = (sorted({row[k] for row in ids[:140] if row[k] is not None}) for k in range(3))
    assert len(a) == 1 and len(c) == 1 and len(b) == 2 and b[1] > c[0], ids
    after = {row[k] for row in ids[141:] for k in range(3) if row[k] is not None}
    assert len(after) == 3 and min(after) > max(a + b + c)
    assert all(len(fs) == len({f["person"] for f in fs}) for fs in records.values())
    with open(tmp_path / "o" / "scene.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7 * len(doc["frames"])
    assert [int(r["person"]) for r in rows[::7]] == [f["person"] for f in doc["frames"]]
    r = CliRunner().invoke(main, ["export", str(tmp_path / "o"), "--format", "openpose", "--dest",
                                  str(tmp_path / "op")])
    assert r.exit_code == 0, r.output
    kp = json.loads(sorted((tmp_path / "op" / "scene").glob("*.json"))[50].read_text())
    assert sorted(p["person_id"][0] for p in kp["people"]) == sorted(f["person"] for f in records[50])


def test_each_person_is_drawn_in_their_own_colour_with_their_id():
    image = np.zeros((240, 320, 3), np.uint8)
    recs = []
    for person, x in ((0, 80.0), (3, 230.0)):
        joints = np.array([[x, 60], [x - 30, 100], [x + 30, 100], [x - 40, 140], [x + 40, 140], [x - 40, 180],
                           [x + 40, 180]])
        recs.append(frame_record(0, 0.0, joints, np.ones(7), 0.1, [x - 60, 30, 120, 120], "ok", person))
    draw_people(image, recs, show_box=False, ids=True)
    for rec, half in zip(recs, (image[:, :160], image[:, 160:]), strict=True):
        colour = PERSON_COLOURS[rec["person"]]
        assert (half == colour).all(axis=2).sum() > 200  # the skeleton, in that person's colour
        others = [c for c in PERSON_COLOURS if c != colour]
        assert not any((half == c).all(axis=2).any() for c in others)


def test_a_faint_person_in_a_photo_is_taken_but_not_in_a_video(tmp_path, tiny_model):
    """A photo is given because someone is in it: with nobody at the detector's threshold, its best
    detection above PHOTO_THRESHOLD is the person. A video keeps the threshold (frames without
    anyone are normal there), and a plain photo still has nobody."""
    clip, anchor = signer()
    sharp = np.full((360, 640, 3), 120, np.uint8)
    head_shoulders = paste_person(sharp, clip[0], anchor, 320, 180, 60)
    detector = PersonDetector()
    for contrast in np.arange(0.40, 0.04, -0.01):  # ever dimmer and hazier, until the detector doubts
        img = (120 + (sharp.astype(np.float32) - 120) * contrast).astype(np.uint8)
        if not detector(img):
            break
    assert detector(img, PHOTO_THRESHOLD), contrast  # the case this rule is for: found only below the threshold
    photo = tmp_path / "faint.png"
    cv2.imwrite(str(photo), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    doc = run_auto(tmp_path, tiny_model, photo, "--no-video")
    assert doc["frames"][0]["status"] == "ok" and inside(doc["frames"][0]["box"], head_shoulders[1:].mean(0))
    video = tmp_path / "faint.mp4"
    encode_frames(video, [img] * 3, fps=10, pix_fmt="yuv444p")
    doc = run_auto(tmp_path, tiny_model, video, "--no-video", "--overwrite")
    assert all(f["status"] == "no_person" for f in doc["frames"])
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), np.full((360, 640, 3), 120, np.uint8))
    assert run_auto(tmp_path, tiny_model, plain, "--no-video")["frames"][0]["status"] == "no_person"


def test_a_small_person_in_a_large_frame_is_found_by_the_finer_reading():
    """Frames of FINE_SIZE pixels or more are also read twice as fine, for people too small for the
    detector's usual size: here a person the usual reading misses in a 1280×720 frame."""
    from posevid.person import detector as det

    clip, anchor = signer()
    img = cv2.GaussianBlur(texture(720, 1280, seed=4), (0, 0), 6)
    head_shoulders = paste_person(img, clip[0], anchor, 900, 400, 90)
    centre = head_shoulders[1:].mean(0)

    def on_person(found: list) -> bool:
        return any(inside(d.roi.as_xywh(), centre) and d.roi.side < 200 for d in found)

    detector = PersonDetector()
    assert not on_person(detector.read(img, det.DET_SIZE, det.SCORE_THRESHOLD))
    assert on_person(detector(img))
    small = cv2.resize(img, (640, 360))  # below FINE_SIZE: one reading, as before
    assert len(detector(small)) == len(detector.read(small, det.DET_SIZE, det.SCORE_THRESHOLD))


def test_photos_shown_one_a_frame_over_like_backdrops_are_each_found(tmp_path, tiny_model):
    """A slideshow: each frame another backdrop of the same kind (like colours, so no histogram
    cut) with the person somewhere else. The layout cut re-finds them in every frame; before it,
    the first frame's box was kept for the whole video."""
    clip, anchor = signer()
    video = tmp_path / "slides.mp4"
    places = [(150, 120), (480, 250), (300, 160), (520, 120), (120, 260), (400, 200)]
    truth, frames = [], []
    for i, (x, y) in enumerate(places):
        frames.append(texture(360, 640, seed=40 + i))
        truth.append(paste_person(frames[-1], clip[0], anchor, x, y, 170))
    encode_frames(video, frames, fps=5)
    doc = run_auto(tmp_path, tiny_model, video, "--window", "0", "--no-video")
    for f, head_shoulders in zip(doc["frames"], truth, strict=True):
        assert f["box"] is not None and inside(f["box"], head_shoulders[1:].mean(0)), (f["index"], f["box"])


def test_a_confident_pose_does_not_hold_a_box_the_detector_no_longer_finds(tmp_path):
    """The person leaves their place and someone else is in view: poses that keep coming for the
    old box (the network answers on an empty crop too) hold it at most POSE_HOLD_SECONDS after
    the detector's last sighting; then the tracker follows the person who is there."""
    video = tmp_path / "moves.mp4"
    truth = people_video(video, [{"x": 150, "y": 200, "height": 180, "stop": 5},
                                 {"x": 480, "y": 200, "height": 180, "start": 5}], frames=60, fps=10)
    tracker = PersonTracker("0", fps=10)  # the left-most person: A while A is there
    confident = np.ones(7)
    boxes = []
    with VideoReader(video) as reader:
        for frame in reader.frames():
            region = tracker.region(frame.image, frame.index)
            boxes.append(region)
            tracker.feedback(np.zeros((7, 2)), confident, frame.index)  # a ghost pose every frame
    assert inside(boxes[0].as_xywh(), truth[0][0][1:].mean(0))
    last = boxes[-1]
    assert last is not None and inside(last.as_xywh(), truth[-1][1][1:].mean(0))
    switched = next(i for i, b in enumerate(boxes) if i >= 5 and b is not None
                    and inside(b.as_xywh(), truth[i][1][1:].mean(0)))
    assert switched <= tracker.pose_hold + 2 * 8, switched


def test_person_main_weighs_confidence_size_and_nearness_to_the_centre():
    """--person main: a confident person near the centre beats a larger, doubtful box at the edge
    (a bystander, a false detection: what `largest` takes), and a large confident person off the
    centre beats a faint small one in the middle."""
    from posevid.person.roi import Roi
    from posevid.person.tracking import Track, choose

    def track(i: int, cx: float, cy: float, side: float, score: float) -> Track:
        return Track(i, Roi.centred(cx, cy, side), score, 0, 0)

    central, edge = track(0, 320, 180, 100, 0.5), track(1, 560, 200, 200, 0.35)
    assert choose([central, edge], "main", 640, 360).id == 0
    assert choose([central, edge], "largest", 640, 360).id == 1
    big, faint = track(2, 460, 180, 250, 0.9), track(3, 320, 180, 100, 0.3)
    assert choose([faint, big], "main", 640, 360).id == 2


def small_person() -> tuple[np.ndarray, object]:
    """A 1280×720 frame with the signer small in it (box under tracking.REFINE_BELOW at the detector's
    reading), and the crop rule's box from her true head and shoulders."""
    from posevid.person.roi import body_box

    clip, anchor = signer()
    img = cv2.GaussianBlur(texture(720, 1280, seed=4), (0, 0), 6)
    head_shoulders = paste_person(img, clip[0], anchor, 900, 400, 120)
    truth = body_box(np.vstack([head_shoulders, np.zeros((4, 2))]), np.array([1, 1, 1, 0, 0, 0, 0], bool))
    return img, truth


def test_a_small_person_in_a_photo_is_framed_again_from_their_pose(tmp_path):
    """The detector's 8-pixel grid frames a small person loosely; in a photo the tracker frames
    them again by the crop rule from the shipped network's head and shoulders on the detector's
    box (tracking.REFINE_BELOW), closer to the rule's box from the true head and shoulders."""
    from posevid import Annotator, settings
    from posevid.io.images import ImageReader
    from posevid.person.detector import iou, reading_side
    from posevid.person.tracking import REFINE_BELOW

    img, truth = small_person()
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    detected = PersonTracker("main", independent=True).region(img, 0)
    assert detected is not None and reading_side(detected, img.shape) < REFINE_BELOW
    annotator = Annotator(settings())
    with ImageReader(path) as reader:
        res = next(annotator.run(reader))
    assert res.box is not None and res.box != detected
    assert res.box == annotator.reframe(img, detected)
    assert iou(res.box, truth) > iou(detected, truth), (iou(res.box, truth), iou(detected, truth))
    big = cv2.resize(img[250:610, 700:1340], (1280, 720))  # the same person large: the detector's box stands
    assert PersonTracker("main", independent=True, reframe=annotator.reframe).region(big, 0) == \
        PersonTracker("main", independent=True).region(big, 0)


def test_a_small_person_in_a_video_is_framed_again_when_detected(tmp_path):
    """In a video each detection of a small person is framed again from the pose on the
    detector's box in that frame before it joins its track: the first frame's box is that box,
    closer to the rule's box from her true head and shoulders than the detector's."""
    from posevid import Annotator, settings
    from posevid.person.detector import iou, reading_side
    from posevid.person.tracking import REFINE_BELOW

    img, truth = small_person()
    path = tmp_path / "small.mp4"
    encode_frames(path, [img] * 3)
    with VideoReader(path) as reader:
        first = next(reader.frames()).image
    detected = PersonTracker("main").region(first, 0)
    assert detected is not None and reading_side(detected, first.shape) < REFINE_BELOW
    annotator = Annotator(settings())
    with VideoReader(path) as reader:
        res = next(annotator.run(reader))
    assert res.box == annotator.reframe(first, detected)
    assert iou(res.box, truth) > iou(detected, truth), (iou(res.box, truth), iou(detected, truth))


def two_people_photo() -> np.ndarray:
    """A 640×360 photo of two real people (the signer, pasted): a larger one left of the centre,
    a smaller one on the right."""
    clip, anchor = signer()
    img = cv2.GaussianBlur(texture(360, 640, seed=4), (0, 0), 6)
    paste_person(img, clip[0], anchor, 220, 170, 260)
    paste_person(img, clip[10], anchor, 470, 180, 220)
    return img


def test_person_main_weighs_each_person_by_how_well_the_pose_network_reads_them():
    """--person main among several people multiplies each one's prominence by the pose network's
    confidence on their box (tracking.POSE_POWER): the more prominent person is passed over when
    the network reads nobody there (judged here by a rule the test sets: only the right half)."""
    from posevid.person.tracking import prominence

    img = two_people_photo()
    tracks = PersonTracker("main", independent=True).update(img, 0)
    assert len(tracks) == 2
    left, right = sorted(tracks, key=lambda t: t.roi.centre[0])
    assert prominence(left.roi, left.score, 640, 360) > prominence(right.roi, right.score, 640, 360)
    assert PersonTracker("main", independent=True).region(img, 0) == left.roi
    seen: list[int] = []

    def judge(rgb, boxes):
        seen.append(len(boxes))
        return [0.9 if b.centre[0] > 320 else 0.05 for b in boxes]

    chosen = PersonTracker("main", independent=True, judge=judge).region(img, 0)
    assert chosen == right.roi and seen == [2]   # both looked at, in one batch
    assert PersonTracker("largest", independent=True, judge=judge).region(img, 0) == left.roi  # other rules keep theirs


def test_the_pipeline_weighs_people_by_its_own_network(tmp_path):
    """`posevid annotate` on a photo of two people chooses, by --person main, the person whose
    prominence times the shipped network's confidence on their box is highest."""
    from posevid import Annotator, settings
    from posevid.io.images import ImageReader
    from posevid.person.tracking import prominence

    img = two_people_photo()
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    annotator = Annotator(settings())
    with ImageReader(path) as reader:
        res = next(annotator.run(reader))
    tracks = PersonTracker("main", independent=True).update(img, 0)
    read = annotator.judge(img, [t.roi for t in tracks])
    assert len(set(np.round(read, 3))) == len(read) and all(0 < c < 1 for c in read)
    best = max(zip(tracks, read, strict=True), key=lambda tc: prominence(tc[0].roi, tc[0].score, 640, 360) * tc[1])
    assert res.box == best[0].roi


def test_photos_small_in_a_wide_frame_over_one_backdrop_are_each_followed_at_once(tmp_path):
    """A slideshow of small photos over one backdrop (lsp80_wide's kind): the whole frame keeps
    its layout, so no cut is seen, but the followed person's box shows something else when the
    next photo is elsewhere (BOX_CHANGE). The detector looks again in that very frame and the
    tracker follows the new person, instead of holding the old box for HOLD_SECONDS."""
    clip, anchor = signer()
    video = tmp_path / "photos.mp4"
    places = [(80, 300), (820, 60), (460, 300), (860, 300)]
    backdrop = texture(720, 1280, seed=3)
    truth, frames = [], []
    for k, (x, y) in enumerate(places):
        photo = texture(400, 400, seed=60 + k)
        head_shoulders = paste_person(photo, clip[0], anchor, 200, 160, 240)
        img = backdrop.copy()
        img[y:y + 400, x:x + 400] = photo
        truth += [head_shoulders + [x, y]] * 4  # each photo shown for 4 frames
        frames += [img] * 4
    encode_frames(video, frames, fps=10)
    tracker = PersonTracker("main", fps=10)
    with VideoReader(video) as reader:
        for frame in reader.frames():
            box = tracker.region(frame.image, frame.index)
            assert box is not None and inside(box.as_xywh(), truth[frame.index][1:].mean(0)), (frame.index, box)
    assert not tracker._shots.cuts  # the whole frame never looked cut


def test_the_detector_reads_alike_in_either_arithmetic():
    """annotate's --precision reaches the detector: `auto` computes in bfloat16 on a CPU that has it
    in hardware (twice as fast), fp32 on request; both find the same person in the same place."""
    from posevid.network.runtime import detector_dtype, native_bf16

    clip, anchor = signer()
    img = cv2.GaussianBlur(texture(360, 640, seed=7), (0, 0), 6)
    head_shoulders = paste_person(img, clip[0], anchor, 300, 170, 150)
    fast, exact = PersonDetector(precision="auto"), PersonDetector(precision="fp32")
    assert exact.dtype == torch.float32 and detector_dtype("fp16") == fast.dtype
    assert fast.dtype == (torch.bfloat16 if native_bf16() else torch.float32)
    a, b = fast(img), exact(img)
    assert len(a) == len(b) >= 1 and inside(a[0].roi.as_xywh(), head_shoulders[1:].mean(0))
    assert abs(a[0].score - b[0].score) < 0.02
    assert math.dist(a[0].roi.centre, b[0].roi.centre) < 0.02 * b[0].roi.side
    assert abs(a[0].roi.side / b[0].roi.side - 1) < 0.03
