"""Photos and folders of images as input (issue 14): JSON/CSV plus an overlay image or video."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from synth import count_frames, draw_figure, figure_joints, texture

from posevid.cli import main
from posevid.io.schema import validate
from posevid.joints import JOINTS


def photo(path, size=(160, 120), seed=0, fmt=".jpg"):
    w, h = size
    img = texture(h, w, seed)
    draw_figure(img, figure_joints(w / 2, h / 2, h / 5, phase=seed), h / 5, face=True)
    ok, data = cv2.imencode(fmt, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(data.tobytes())
    return img


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_photo_gives_json_csv_and_an_overlay_image(tmp_path, tiny_model):
    src = tmp_path / "person.jpg"
    img = photo(src)
    out = tmp_path / "out"
    r = run("annotate", str(src), "-o", str(out), "--model", str(tiny_model), "-q")
    assert r.exit_code == 0, r.output
    assert "corrupt" not in r.output
    doc = json.loads((out / "person.json").read_text())
    validate(doc)
    assert len(doc["frames"]) == 1 and doc["video"]["codec"] == "image"
    assert (doc["video"]["width"], doc["video"]["height"]) == (160, 120)
    assert len(list(csv.DictReader((out / "person.csv").open()))) == len(JOINTS)
    overlay = cv2.imread(str(out / "person.jpg"))
    assert overlay is not None and overlay.shape[:2] == img.shape[:2]
    assert not (out / "person.mp4").exists()


def test_a_png_named_mp4_is_read_as_a_photo(tmp_path, tiny_model):
    src = tmp_path / "disguised.mp4"
    photo(src, fmt=".png")
    r = run("annotate", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 0, r.output
    assert "corrupt" not in r.output
    doc = json.loads((tmp_path / "out" / "disguised.json").read_text())
    assert doc["video"]["codec"] == "image" and doc["summary"]["corrupt_packets"] == 0
    assert cv2.imread(str(tmp_path / "out" / "disguised.png")) is not None


def test_a_folder_of_images_is_a_sequence_with_an_overlay_video(tmp_path, tiny_model):
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in (3, 1, 2, 10):  # sorted by name: 1, 10, 2, 3
        photo(frames / f"f{k}.png", seed=k, fmt=".png")
    (frames / "notes.txt").write_text("not an image")
    r = run("annotate", str(frames), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "out" / "frames.json").read_text())
    assert [f["index"] for f in doc["frames"]] == [0, 1, 2, 3]
    assert doc["frames"][1]["time"] == pytest.approx(0.1)
    n, _, audio, size = count_frames(tmp_path / "out" / "frames.mp4")
    assert (n, size, audio) == (4, (160, 120), False)


def test_a_sequence_of_mixed_sizes_is_refused_with_advice(tmp_path, tiny_model):
    frames = tmp_path / "mixed"
    frames.mkdir()
    photo(frames / "a.png", fmt=".png")
    photo(frames / "b.png", size=(200, 100), fmt=".png")
    r = run("annotate", str(frames), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 3
    assert "one by one" in r.output
    assert not list((tmp_path / "out").glob("*.json"))


def test_an_unreadable_image_file_is_bad_input(tmp_path, tiny_model):
    src = tmp_path / "broken.jpg"
    src.write_bytes(b"\xff\xd8\xff" + np.random.default_rng(0).bytes(200))
    r = run("annotate", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 3, r.output
    assert "no readable image" in r.output
