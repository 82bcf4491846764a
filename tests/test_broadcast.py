"""Broadcast footage: shot cuts end the temporal window, interlaced streams are deinterlaced, gaps are cuts."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from synth import make_video

from posevid import Annotator, VideoReader, settings
from posevid.cli import main
from posevid.temporal.shots import ShotDetector


def test_cuts_are_detected_exactly_and_written_to_the_json(tmp_path, tiny_model):
    video = tmp_path / "show.mp4"
    make_video(video, frames=30, cuts=(10, 21))
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path), "--model", str(tiny_model), "-q",
                                  "--no-video"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "show.json").read_text())
    assert [c["frame"] for c in doc["cuts"]] == [10, 21]
    assert doc["cuts"][0]["time"] == pytest.approx(10 / 25)


def test_no_pooled_heatmap_mixes_frames_across_a_cut(tmp_path, tiny_model):
    video = tmp_path / "show.mp4"
    make_video(video, frames=24, cuts=(12,))
    ann = Annotator(settings(model=str(tiny_model), window=3, batch_size=4))
    seen = 0
    with VideoReader(video) as r:
        for state in ann.run(r, keep_stacks=True):
            t = state.frame.index
            present = state.present.tolist()  # slots for t-3 .. t+3
            for slot, p in enumerate(present):
                other = t + slot - 3
                crosses = (other < 12) != (t < 12)
                if crosses or not 0 <= other < 24:
                    assert p == 0, (t, other)
                else:
                    assert p == 1, (t, other)
            seen += 1
    assert seen == 24


def test_time_gap_is_treated_as_a_cut():
    import numpy as np

    det = ShotDetector(threshold=None, max_gap=0.5)
    img = np.zeros((8, 8, 3), np.uint8)
    segs = [det.update(img, t, i) for i, t in enumerate([0.0, 0.04, 0.08, 1.5, 1.54])]
    assert segs == [0, 0, 0, 1, 1]
    assert det.cuts == [{"frame": 3, "time": 1.5, "reason": "gap"}]


def test_interlaced_stream_is_detected_and_deinterlaced(tmp_path, tiny_model):
    video = tmp_path / "tv.mp4"
    make_video(video, frames=10, options={"x264-params": "interlaced=1:tff=1"})
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "tv.json").read_text())
    assert doc["video"]["interlaced"] is True and doc["settings"]["deinterlace"] == "auto"
    assert len(doc["frames"]) == 10


def test_black_bars_do_not_move_the_region_and_the_overlay_keeps_the_full_frame(tmp_path, tiny_model):
    from synth import count_frames, people_video

    video = tmp_path / "letterboxed.mp4"
    truth = [row[0] for row in people_video(video, [{"x": 380, "y": 200, "height": 150}], frames=8, bars=60)]
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model),
                                  "-q", "--show-box"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "letterboxed.json").read_text())
    x, y, w, h = doc["frames"][-1]["box"]
    shoulders = truth[0][1:].mean(0)
    assert x < shoulders[0] < x + w and y < shoulders[1] < y + h
    assert count_frames(tmp_path / "o" / "letterboxed.mp4")[3] == (640, 360)


def test_a_change_of_layout_with_like_colours_is_a_cut():
    """Two frames of the same kind of backdrop (like histograms) but another layout are a cut; the
    same backdrop moved a few pixels (a pan) or with new noise is not."""
    import numpy as np
    from synth import texture

    det = ShotDetector()
    a, b = texture(240, 320, seed=1), texture(240, 320, seed=2)
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    segs = [det.update(img, i / 25, i) for i, img in enumerate([a, np.roll(a, 6, axis=1), noisy, b])]
    assert segs == [0, 0, 0, 1]
    assert det.cuts == [{"frame": 3, "time": 0.12, "reason": "cut"}]
    off = ShotDetector(threshold=None, layout=None)
    assert [off.update(img, i / 25, i) for i, img in enumerate([a, b])] == [0, 0]
