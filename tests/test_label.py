"""posevid label with the real MediaPipe teacher (skipped with a reason when the extra is missing)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from synth import make_video

from posevid.cli import main

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
