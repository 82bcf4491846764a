"""posevid label with the real MediaPipe teacher (skipped with a reason when the extra is missing)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import yaml
from click.testing import CliRunner
from synth import make_video

from posevid.cli import main
from posevid.io.video import VideoReader
from posevid.train.datasets import read_source

pytest.importorskip("mediapipe", reason="the teacher extra (mediapipe==0.10.14) is not installed")


def test_label_drops_frames_without_a_person(tmp_path):
    make_video(tmp_path / "scene.mp4", frames=6)  # a stick figure: MediaPipe sees nobody
    r = CliRunner().invoke(main, ["label", str(tmp_path / "scene.mp4"), "-o", str(tmp_path / "labels"), "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "labels" / "scene.json").read_text())
    assert doc["format"] == "posevid" and doc["model"]["teacher"].startswith("mediapipe 0.10.14")
    assert doc["summary"] == {"frames_labelled": 0, "frames_seen": 6} and doc["frames"] == []


def test_label_finds_a_real_person_in_our_joint_order(tmp_path):
    """The shipped clip (a signer): every frame labelled, in posevid JSON, with the joints where the
    reference kept in tests/data puts them (the person's right shoulder on the image's left)."""
    clip = Path(__file__).resolve().parents[1] / "examples" / "signer.mp4"
    r = CliRunner().invoke(main, ["label", str(clip), "-o", str(tmp_path), "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "signer.json").read_text())
    assert doc["summary"] == {"frames_labelled": 58, "frames_seen": 58}
    ref = json.loads((Path(__file__).parent / "data" / "signer_mediapipe.json").read_text())["frames"]
    ours = {f["index"]: f["joints"] for f in doc["frames"]}
    for f in ref:
        for name, (x, y, _) in f["joints"].items():
            if x is not None:
                assert abs(ours[f["index"]][name]["x"] - x) < 2 and abs(ours[f["index"]][name]["y"] - y) < 2, name
    first = ours[0]
    assert first["right_shoulder"]["x"] < first["head"]["x"] < first["left_shoulder"]["x"]
    assert first["head"]["y"] < first["right_shoulder"]["y"]


def test_label_reports_a_bad_file_and_goes_on(tmp_path):
    (tmp_path / "bad.mp4").write_text("not a video")
    make_video(tmp_path / "good.mp4", frames=2)
    r = CliRunner().invoke(main, ["label", str(tmp_path / "bad.mp4"), str(tmp_path / "good.mp4"), "-o",
                                  str(tmp_path / "labels"), "-q"])
    assert r.exit_code == 1
    assert (tmp_path / "labels" / "good.json").exists() and not (tmp_path / "labels" / "bad.json").exists()


def test_label_names_videos_of_a_folder_by_their_path_so_none_overwrites_another(tmp_path):
    for sub in ("single", "multi"):
        (tmp_path / "demo" / sub).mkdir(parents=True)
        make_video(tmp_path / "demo" / sub / "cam01.mp4", frames=2)
    make_video(tmp_path / "cam01.mp4", frames=2)
    r = CliRunner().invoke(main, ["label", str(tmp_path / "demo"), str(tmp_path / "cam01.mp4"),
                                  str(tmp_path / "cam01.mp4"), "-o", str(tmp_path / "labels"), "-q"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "labels").iterdir())
    assert names == ["cam01.json", "cam01_2.json", "demo_multi_cam01.json", "demo_single_cam01.json"]
    doc = json.loads((tmp_path / "labels" / "demo_multi_cam01.json").read_text())
    assert doc["video"]["path"].endswith("multi/cam01.mp4")


def test_label_people_all_gives_every_person_a_record_and_the_detector_reads_them(tmp_path):
    """Two real people (the signer pasted twice, one mirrored) in a wide video, every other frame:
    a record per person and frame, each on its own person, and the detector's training data
    takes each frame once per person with the other as a labelled neighbour, not background."""
    from synth import people_video

    from posevid.person.roi import body_box
    from posevid.train.datasets import read_posevid
    from posevid.train.detector import load_people

    video = tmp_path / "two.mp4"
    two = [{"x": 170, "y": 190, "height": 230}, {"x": 470, "y": 200, "height": 210, "flip": True}]
    truth = people_video(video, two, frames=6)
    r = CliRunner().invoke(main, ["label", str(video), "-o", str(tmp_path / "labels"), "--people", "all",
                                  "--every", "2", "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "labels" / "two.json").read_text())
    assert doc["summary"] == {"frames_labelled": 3, "frames_seen": 3} and "unsure" in doc
    assert [(f["index"], f["person"]) for f in doc["frames"]] == [(i, k) for i in (0, 2, 4) for k in (0, 1)]
    for f in doc["frames"]:
        head = f["joints"]["head"]
        person = min(truth[f["index"]], key=lambda t: abs(t[0][0] - head["x"]))
        assert abs(person[0][0] - head["x"]) < 25 and abs(person[0][1] - head["y"]) < 25
    samples = read_posevid(tmp_path / "labels" / "two.json")
    people = load_people(samples)
    assert len(people) == 6 and all(len(p.others) == 1 for p in people)
    assert people[0].image is people[1].image  # one decoded frame, shared
    first = sorted(body_box(s.joints, s.labelled).x for s in samples[:2])
    assert first[1] - first[0] > 200  # two boxes, one per person


SIGNER_FRAMES = (36, 40)  # every arm joint seen confidently by the teacher


def signer_photos(tmp_path: Path) -> tuple[dict, dict]:
    """Two frames of the shipped signer clip as photos with LSP labels (the reference's joints), the
    first labelled the person's way, the second with right and left exchanged, as a labeller facing
    her would; and a training config naming them (tmp_path/cfg.yaml). Returns (the data source,
    the reference joints by frame)."""
    root = Path(__file__).resolve().parents[1]
    ref = {f["index"]: f["joints"] for f in
           json.loads((root / "tests" / "data" / "signer_mediapipe.json").read_text())["frames"]}
    frames = SIGNER_FRAMES
    (tmp_path / "images").mkdir()
    with VideoReader(root / "examples" / "signer.mp4") as reader:
        for fr in reader.frames():
            if fr.index in frames:
                k = frames.index(fr.index) + 1
                cv2.imwrite(str(tmp_path / "images" / f"im{k:05d}.jpg"), cv2.cvtColor(fr.image, cv2.COLOR_RGB2BGR))
    lsp = np.full((14, 3, 2), -1.0)
    order = {8: "right_shoulder", 7: "right_elbow", 6: "right_wrist", 9: "left_shoulder", 10: "left_elbow",
             11: "left_wrist"}
    other = {8: 9, 7: 10, 6: 11, 9: 8, 10: 7, 11: 6}
    for n, index in enumerate(frames):
        for lsp_k, name in order.items():
            target = lsp_k if n == 0 else other[lsp_k]   # the second photo: sides exchanged
            lsp[target, :2, n] = ref[index][name][:2]
            lsp[target, 2, n] = 1
        head = np.array(ref[index]["head"][:2])
        lsp[12, :2, n], lsp[13, :2, n] = head + [0, 60], head - [0, 60]   # neck, head top
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": lsp})
    spec = {"type": "lsp", "labels": str(tmp_path / "joints.mat"), "images": str(tmp_path / "images")}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({"train": {"data": [spec]}}))
    return spec, ref


def test_check_sides_lists_the_photo_labelled_the_viewers_way_and_training_reads_it_the_persons(tmp_path):
    """check-sides lists only the photo labelled the viewer's way; a source naming that list reads it
    the person's way."""
    spec, ref = signer_photos(tmp_path)
    frames = SIGNER_FRAMES
    out = tmp_path / "swapped.json"
    r = CliRunner().invoke(main, ["check-sides", str(tmp_path / "cfg.yaml"), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text()) == ["im00002.jpg"]
    assert "1 of 2 labelled photos" in r.output
    fixed = read_source({**spec, "swapped": str(out)})
    for s, index in zip(fixed, frames, strict=True):
        assert np.allclose(s.joints[1], ref[index]["right_shoulder"][:2])   # the person's right, both photos
        assert np.allclose(s.joints[6], ref[index]["left_wrist"][:2])


def test_face_points_are_kept_where_the_teacher_reads_the_person_as_the_labels_do(tmp_path):
    """posevid face-points: the teacher's nose, eyes and ears for the photo labelled the person's way,
    none for the one labelled the viewer's way (its face points would contradict its arm labels);
    the signer faces the camera, so her left eye and ear are on the image's right."""
    from posevid.train.faces import attach_face_points

    spec, ref = signer_photos(tmp_path)
    out = tmp_path / "faces.json"
    r = CliRunner().invoke(main, ["face-points", str(tmp_path / "cfg.yaml"), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "face points of 1 of 2 labelled photos" in r.output
    samples = read_source(spec)
    assert attach_face_points(samples, out) == 1
    face = samples[0].face
    assert samples[1].face is None and samples[0].face_labelled.all()
    head = np.array(ref[SIGNER_FRAMES[0]]["head"][:2])
    shoulders = np.linalg.norm(samples[0].joints[1] - samples[0].joints[2])
    assert np.linalg.norm(face - head, axis=1).max() < 0.5 * shoulders   # all on her face
    nose, left_eye, right_eye, left_ear, right_ear = face[:, 0]
    assert right_ear < right_eye < nose < left_eye < left_ear
