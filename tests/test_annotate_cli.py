"""The real CLI on videos encoded here with PyAV: outputs, formats, timing, audio, rotation."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from synth import count_frames, interruptible, make_video

from posevid.cli import main
from posevid.io.mp4 import is_faststart, top_level_boxes
from posevid.io.schema import validate
from posevid.joints import JOINTS


def run(*args: str) -> CliRunner.invoke:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_annotate_writes_json_csv_and_mp4_with_audio(synth_video, tiny_model, tmp_path):
    video, _ = synth_video
    out = tmp_path / "out"
    r = run("annotate", str(video), "-o", str(out), "--model", str(tiny_model), "--quiet")
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "walk.json").read_text())
    validate(doc)
    assert len(doc["frames"]) == 24
    assert [f["index"] for f in doc["frames"]] == list(range(24))
    assert doc["frames"][1]["time"] == pytest.approx(0.04, abs=1e-3)
    assert doc["settings"]["flow"] == "dis" and doc["model"]["preset"] == "tiny"
    rows = list(csv.DictReader((out / "walk.csv").open()))
    assert len(rows) == 24 * len(JOINTS)
    assert rows[0].keys() >= {"frame", "time", "joint", "x", "y", "confidence"}
    n_in, dur_in, _, size_in = count_frames(video)
    n_out, dur_out, audio, size_out = count_frames(out / "walk.mp4")
    assert (n_out, size_out) == (n_in, size_in)
    assert dur_out == pytest.approx(dur_in, abs=0.05)
    assert audio
    assert not list(out.glob(".*part"))
    # browser-streamable: the index before the media data (faststart)
    assert is_faststart(out / "walk.mp4"), top_level_boxes(out / "walk.mp4")


def test_no_audio_input_gives_silent_overlay(tmp_path, tiny_model):
    video = tmp_path / "silent.mp4"
    make_video(video, frames=6)
    r = run("annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q", "--no-csv")
    assert r.exit_code == 0, r.output
    assert not count_frames(tmp_path / "o" / "silent.mp4")[2]
    assert not (tmp_path / "o" / "silent.csv").exists()


def test_rotated_phone_video_is_processed_upright(tmp_path, tiny_model):
    video = tmp_path / "phone.mp4"
    make_video(video, frames=5, size=(96, 64), rotation=90)
    r = run("annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "phone.json").read_text())
    assert (doc["video"]["width"], doc["video"]["height"], doc["video"]["rotation"]) == (64, 96, 90)
    assert count_frames(tmp_path / "o" / "phone.mp4")[3] == (64, 96)


def test_odd_size_video_keeps_its_size(tmp_path, tiny_model):
    video = tmp_path / "odd.mkv"
    make_video(video, frames=4, size=(99, 57), codec="ffv1", pix_fmt="yuv444p")
    r = run("annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 0, r.output
    assert count_frames(tmp_path / "o" / "odd.mp4")[3] == (99, 57)


def confidences(path: Path) -> np.ndarray:
    doc = json.loads(path.read_text())
    return np.array([[j["confidence"] for j in f["joints"].values()] for f in doc["frames"]])


@pytest.mark.parametrize("flow", ["farneback", "deepflow", "dis"])
def test_every_flow_method_and_pooling_changes_the_result(tmp_path, tiny_model, flow, synth_video):
    """Each flow method with each pooling runs, and each really pools: the per-frame confidences
    differ from the network's own (no flow) and from one pooling to another."""
    common = ("--model", str(tiny_model), "-q", "--no-video", "--no-csv", "--roi", "letterbox", "--threshold", "0")
    r = run("annotate", str(synth_video[0]), "-o", str(tmp_path / "none"), *common, "--flow", "none")
    assert r.exit_code == 0, r.output
    alone = confidences(tmp_path / "none" / "walk.json")
    pooled = {}
    for pool in ("parametric", "sum", "max"):
        out = tmp_path / pool
        r = run("annotate", str(synth_video[0]), "-o", str(out), *common, "--flow", flow, "--pool", pool,
                "--window", "2")
        assert r.exit_code == 0, r.output
        doc = json.loads((out / "walk.json").read_text())
        assert (doc["settings"]["flow"], doc["settings"]["pool"], doc["settings"]["window"]) == (flow, pool, 2)
        pooled[pool] = confidences(out / "walk.json")
        assert pooled[pool].shape == alone.shape and not np.allclose(pooled[pool], alone, atol=1e-4), pool
    assert not np.allclose(pooled["sum"], pooled["max"], atol=1e-4)
    assert (pooled["max"] >= alone - 1e-3).mean() > 0.99  # max pooling never lowers the centre frame's peak


def test_existing_outputs_are_not_overwritten(synth_video, tiny_model, tmp_path):
    args = ("annotate", str(synth_video[0]), "-o", str(tmp_path), "--model", str(tiny_model), "-q", "--no-video")
    assert run(*args).exit_code == 0
    before = (tmp_path / "walk.json").read_bytes()
    r = run(*args)
    assert r.exit_code == 4 and "already exists" in r.output
    assert (tmp_path / "walk.json").read_bytes() == before
    assert run(*args, "--overwrite", "--threshold", "0.9").exit_code == 0
    assert (tmp_path / "walk.json").read_bytes() != before


def test_box_and_config_file_override_defaults(synth_video, tiny_model, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("annotate:\n  flow: farneback\n  window: 1\n")
    r = run("annotate", str(synth_video[0]), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q",
            "--config", str(cfg), "--box", "20,10,80,90", "--no-video")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "walk.json").read_text())
    assert doc["settings"]["flow"] == "farneback" and doc["settings"]["window"] == 1
    assert doc["frames"][0]["box"] == [15.0, 10.0, 90.0, 90.0]


@pytest.mark.parametrize("content,expect", [(None, "no such file"), (b"", "empty file"),
                                            (b"hello, not a video\n" * 50, "not a readable video")])
def test_bad_inputs_give_one_line_and_exit_3(tmp_path, tiny_model, content, expect):
    video = tmp_path / "bad.mp4"
    if content is not None:
        video.write_bytes(content)
    p = subprocess.run([sys.executable, "-m", "posevid.cli", "annotate", str(video), "-o", str(tmp_path / "o"),
                        "--model", str(tiny_model)], capture_output=True, text=True)
    assert p.returncode == 3
    assert expect in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True


def test_corrupt_model_file_is_a_clear_error(tmp_path, synth_video):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x00garbage" * 100)
    r = run("annotate", str(synth_video[0]), "-o", str(tmp_path), "--model", str(bad))
    assert r.exit_code == 5 and f"not a posevid weight file: {bad}" in r.output


def test_output_never_replaces_the_input_video(tmp_path, tiny_model):
    video = tmp_path / "clip.mp4"
    make_video(video, frames=3)
    before = video.read_bytes()
    r = run("annotate", str(video), "-o", str(tmp_path), "--model", str(tiny_model), "--overwrite")
    assert r.exit_code == 4 and "would replace the input" in r.output
    assert video.read_bytes() == before


def test_version_and_help():
    assert "posevid, version" in run("--version").output
    assert "--flow" in run("annotate", "--help").output


def test_memory_is_bounded_by_the_window_not_the_video(tmp_path, tiny_model):
    from posevid import Annotator, VideoReader, settings

    video = tmp_path / "long.mp4"
    make_video(video, frames=150, size=(64, 48))
    ann = Annotator(settings(model=str(tiny_model), window=3, batch_size=4))
    with VideoReader(video) as r:
        n = sum(1 for _ in ann.run(r))
    assert n == 150
    assert ann.lanes.max_buffered <= 2 * 3 + 1 + 4


def test_package_entry_point_runs(synth_video, tiny_model, tmp_path):
    exe = Path(sys.executable).parent / "posevid"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    p = subprocess.run([str(exe), "annotate", str(synth_video[0]), "-o", str(tmp_path), "--model",
                        str(tiny_model), "--no-video"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "24 frames" in p.stdout


def test_ctrl_c_removes_unfinished_outputs_and_exits_130(tmp_path, tiny_model):
    import signal
    import time

    video = tmp_path / "long.mp4"
    make_video(video, frames=600, size=(256, 192))  # long enough that it cannot finish first
    out = tmp_path / "o"
    p = subprocess.Popen([sys.executable, "-m", "posevid.cli", "annotate", str(video), "-o", str(out), "--model",
                          str(tiny_model), "-q"], stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob(".*.part")):
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the run, not at its very start
    assert p.poll() is None
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err
    # on a line of its own, and true: no checkpoint was reached, so the video starts again
    line = next(x for x in err.splitlines() if "interrupted" in x)
    assert line.startswith("posevid: error: interrupted at frame") and "before its first checkpoint" in line, err
    assert "continue from" not in line
    assert not list(out.iterdir())


def test_variable_frame_rate_timestamps_are_kept(tmp_path, tiny_model):
    from fractions import Fraction

    import av
    import numpy as np

    video = tmp_path / "vfr.mkv"
    times = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5]
    with av.open(str(video), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = Fraction(1, 1000)
        s.codec_context.time_base = Fraction(1, 1000)
        for t in times:
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), int(t * 400), np.uint8), format="rgb24")
            f.pts, f.time_base = int(t * 1000), Fraction(1, 1000)
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    r = run("annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q")
    assert r.exit_code == 0, r.output
    got = [f["time"] for f in json.loads((tmp_path / "o" / "vfr.json").read_text())["frames"]]
    assert got == pytest.approx(times, abs=1e-3)
    with av.open(str(tmp_path / "o" / "vfr.mp4")) as c:
        assert [round(f.time, 3) for f in c.decode(video=0)] == pytest.approx(times, abs=2e-3)


def test_audio_mp4_cannot_carry_is_re_encoded_to_aac(tmp_path, tiny_model):
    """PCM audio (a Matroska or broadcast recording) cannot go into MP4 as it is: the overlay
    carries it re-encoded to AAC, over the whole length of the video."""
    import av

    video = tmp_path / "pcm.mkv"
    make_video(video, frames=25, audio=True, audio_codec="pcm_s16le")
    with av.open(str(video)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_s16le"
    r = run("annotate", str(video), "-o", str(tmp_path / "o"), "--model", str(tiny_model), "-q", "--no-csv")
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "o" / "pcm.mp4")) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        seconds = sum(f.samples for p in c.demux(a) for f in p.decode()) / a.codec_context.sample_rate
    assert seconds == pytest.approx(1.0, abs=0.1)
