"""Finding the person: the automatic region follows a small, off-centre, moving figure, and the --person rule."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from synth import make_video

from posevid.cli import main


def boxes(doc: dict) -> list:
    return [f["box"] for f in doc["frames"]]


def run_auto(tmp_path, tiny_model, video, *extra):
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "-q", "--roi", "auto", "--no-csv", *extra])
    assert r.exit_code == 0, r.output
    return json.loads((tmp_path / "o" / f"{video.stem}.json").read_text())


def test_auto_region_follows_a_small_off_centre_moving_figure(tmp_path, tiny_model):
    video = tmp_path / "wide.mp4"
    truth = make_video(video, frames=30, size=(640, 360), figures=[(0.2, 0.6, 0.12)], speed=4.0)
    doc = run_auto(tmp_path, tiny_model, video, "--show-box")
    found = [(f["box"], t) for f, t in zip(doc["frames"], truth, strict=True) if f["box"] is not None]
    assert len(found) >= 25
    for (x, y, w, h), joints in found:
        shoulders = (joints[1] + joints[2]) / 2
        assert x < shoulders[0] < x + w and y < shoulders[1] < y + h       # the person is inside
        assert 0.15 < (joints[2][0] - joints[1][0]) / w < 0.6                 # and framed at body scale
    xs = [b[0] for b, _ in found]
    assert xs[-1] > xs[0] + 40  # it moved with the figure (4 px a frame)


@pytest.mark.parametrize("rule,expect_x", [("largest", 0.75), ("center", 0.45), ("0", 0.15)])
def test_person_rule_chooses_among_two_figures(tmp_path, tiny_model, rule, expect_x):
    video = tmp_path / "two.mp4"
    figures = [(0.15, 0.55, 0.1), (0.45, 0.5, 0.11), (0.75, 0.55, 0.16)]
    make_video(video, frames=6, size=(640, 360), figures=figures, moving=False)
    doc = run_auto(tmp_path, tiny_model, video, "--person", rule, "--no-video")
    x, y, w, h = doc["frames"][-1]["box"]
    assert abs((x + w / 2) / 640 - expect_x) < 0.06


def test_no_person_in_view_reports_joints_not_visible(tmp_path, tiny_model):
    video = tmp_path / "empty.mp4"
    make_video(video, frames=5, size=(160, 120))  # a stick figure without a face: nobody to find
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "--roi", "auto", "--no-video"])
    assert r.exit_code == 0
    assert "no person found in any frame" in r.output
    doc = json.loads((tmp_path / "o" / "empty.json").read_text())
    assert all(f["status"] == "no_person" and f["box"] is None for f in doc["frames"])
    assert not any(j["visible"] for f in doc["frames"] for j in f["joints"].values())
    assert np.isclose(doc["summary"]["no_person_frames"], 5)


def test_a_long_stretch_with_nobody_in_view_gets_one_warning(tmp_path, tiny_model):
    """A person with a face for 1.5 s, then 48.5 s of an empty scene (2 fps): once the tracker's
    hold (frames, allowing for the pipeline's lag) runs out, frames are reported without a
    person, and the stretch gets one warning with its times."""
    import av
    from synth import draw_figure, figure_joints, texture

    video = tmp_path / "leaves.mp4"
    with av.open(str(video), "w") as out:
        s = out.add_stream("libx264", rate=2)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for i in range(100):
            img = texture(240, 320, seed=1)
            if i < 3:
                draw_figure(img, figure_joints(160, 120, 40), 40, face=True)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "--no-video", "--no-csv"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "leaves.json").read_text())
    status = [f["status"] for f in doc["frames"]]
    assert status[0] == "ok" and status[-1] == "no_person"
    warned = [w for w in doc["summary"]["warnings"] if w.startswith("nobody in view")]
    assert len(warned) == 1 and warned[0].endswith("to 0:00:49"), warned
    assert r.output.count("nobody in view") == 1
