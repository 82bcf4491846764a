"""Every bad-input case of issue 4, built here: one line, a documented exit code, no partial output."""
from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from synth import make_video


def annotate(video: Path, out: Path, model: Path, *extra: str, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posevid.cli", "annotate", str(video), "-o", str(out),
                           "--model", str(model), "-q", *extra], capture_output=True, text=True, preexec_fn=preexec)


def one_line(p: subprocess.CompletedProcess) -> str:
    err = p.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def no_partial(out: Path) -> None:
    assert not list(out.rglob("*.part")) if out.exists() else True


def frames_of(out: Path, name: str) -> int:
    return len(json.loads((out / f"{name}.json").read_text())["frames"])


def test_truncated_mp4_without_index_is_rejected(tmp_path, tiny_model):
    good = tmp_path / "good.mp4"
    make_video(good, frames=30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    p = annotate(cut, tmp_path / "o", tiny_model)
    assert p.returncode == 3 and "cut.mp4" in one_line(p)
    no_partial(tmp_path / "o")


def test_truncated_stream_keeps_the_frames_before_the_cut(tmp_path, tiny_model):
    good = tmp_path / "good.ts"
    make_video(good, frames=40, fmt="mpegts")
    cut = tmp_path / "cut.ts"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    p = annotate(cut, tmp_path / "o", tiny_model, "--no-video")
    assert p.returncode == 0, p.stderr
    assert 5 < frames_of(tmp_path / "o", "cut") < 40


def test_corrupt_frame_in_the_middle_is_skipped_and_reported(tmp_path, tiny_model):
    good = tmp_path / "good.avi"
    make_video(good, frames=30, codec="mpeg4")
    data = bytearray(good.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = np.random.default_rng(0).integers(0, 255, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    p = annotate(bad, tmp_path / "o", tiny_model, "--no-video")
    assert p.returncode == 0, p.stderr
    n = frames_of(tmp_path / "o", "bad")
    # the overwritten bytes cost frames (always the same ones: the noise is seeded), and the
    # loss is reported, not passed over in silence
    assert 10 < n < 30
    assert "warning" in p.stderr and "bad.avi" in p.stderr
    assert "corrupt" in p.stderr or "decoded" in p.stderr


def test_audio_only_file(tmp_path, tiny_model):
    path = tmp_path / "speech.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        for k in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            f.sample_rate, f.pts, f.time_base = 16000, k * 1024, Fraction(1, 16000)
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    p = annotate(path, tmp_path / "o", tiny_model)
    assert p.returncode == 3 and "no video stream (holds audio)" in one_line(p)


def test_single_frame_video(tmp_path, tiny_model):
    make_video(tmp_path / "one.mp4", frames=1)
    p = annotate(tmp_path / "one.mp4", tmp_path / "o", tiny_model)
    assert p.returncode == 0, p.stderr
    assert frames_of(tmp_path / "o", "one") == 1


def test_raw_stream_without_timestamps_gets_regular_times(tmp_path, tiny_model):
    make_video(tmp_path / "raw.h264", frames=10, fmt="h264")
    p = annotate(tmp_path / "raw.h264", tmp_path / "o", tiny_model, "--no-video")
    assert p.returncode == 0, p.stderr
    times = [f["time"] for f in json.loads((tmp_path / "o" / "raw.json").read_text())["frames"]]
    assert len(times) == 10 and all(b > a for a, b in zip(times, times[1:], strict=False))


@pytest.mark.parametrize("size", [(3840, 2160), (32, 32)])
def test_huge_and_tiny_resolutions(tmp_path, tiny_model, size):
    make_video(tmp_path / "v.mp4", frames=2, size=size)
    p = annotate(tmp_path / "v.mp4", tmp_path / "o", tiny_model)
    assert p.returncode == 0, p.stderr
    doc = json.loads((tmp_path / "o" / "v.json").read_text())
    assert (doc["video"]["width"], doc["video"]["height"]) == size


@pytest.mark.parametrize("pix_fmt", ["gray", "yuv420p10le"])
def test_grayscale_and_10_bit(tmp_path, tiny_model, pix_fmt):
    make_video(tmp_path / "v.mkv", frames=3, codec="ffv1", pix_fmt=pix_fmt)
    p = annotate(tmp_path / "v.mkv", tmp_path / "o", tiny_model)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "o" / "v.json").read_text())["video"]["pix_fmt"] == pix_fmt


def test_output_folder_that_cannot_be_created(tmp_path, tiny_model, synth_video):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = annotate(synth_video[0], blocker / "out", tiny_model)
    assert p.returncode == 4 and "cannot create output folder" in one_line(p)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8_000, 8_000))


def test_full_disk_leaves_no_partial_output(tmp_path, tiny_model):
    video = tmp_path / "in.mkv"
    make_video(video, frames=30, size=(160, 120), codec="ffv1")  # lossless: the overlay is large
    p = annotate(video, tmp_path / "o", tiny_model, preexec=_limit_file_size)
    assert p.returncode == 4, p.stderr
    assert "disk full" in one_line(p)
    assert not list((tmp_path / "o").iterdir())


def test_folder_given_as_video(tmp_path, tiny_model):
    p = annotate(tmp_path, tmp_path / "o", tiny_model)
    assert p.returncode == 3 and "a folder without images" in one_line(p)
