"""A video killed part-way continues from its last checkpoint, with the same result as an unbroken run."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import yaml
from synth import interruptible, make_video, people_video

from posevid.io.schema import validate

FRAMES = 600  # long enough that a run cannot finish before it is killed


def annotate_cmd(video: Path, out: Path, model: Path, config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "posevid.cli", "annotate", str(video), "-o", str(out), "--model", str(model),
            "--box", "20,10,130,130", "--config", str(config), *extra]


def kill_after_checkpoint(cmd: list[str], checkpoint: Path, frames: int) -> int:
    """Start a run, SIGKILL it once its checkpoint holds at least `frames`; return the checkpoint's count."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and p.poll() is None:
        try:
            done = json.loads(checkpoint.read_text())["frames"]
        except (OSError, ValueError):
            done = 0
        if done >= frames:
            break
        time.sleep(0.02)
    assert p.poll() is None, "the run finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    return done


def joints(doc: dict) -> np.ndarray:
    return np.array([[(j["x"] if j["x"] is not None else -1, j["y"] if j["y"] is not None else -1, j["confidence"])
                      for j in f["joints"].values()] for f in doc["frames"]], dtype=float)


def test_killed_video_resumes_from_its_checkpoint(tmp_path, tiny_model):
    video = tmp_path / "clip.mp4"
    make_video(video, frames=FRAMES, size=(192, 144), audio=True)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"annotate": {"resume_every": 40}}))

    ref = subprocess.run(annotate_cmd(video, tmp_path / "ref", tiny_model, config), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    want = json.loads((tmp_path / "ref" / "clip.json").read_text())

    out = tmp_path / "out"
    checkpoint = out / ".clip.resume.json"
    cmd = annotate_cmd(video, out, tiny_model, config)

    # other settings do not resume: the run starts over and still comes out whole
    kill_after_checkpoint(cmd, checkpoint, 80)
    other = subprocess.run(cmd + ["--threshold", "0.35"], capture_output=True, text=True)
    assert other.returncode == 0, other.stderr
    assert "continued" not in other.stdout
    assert json.loads((out / "clip.json").read_text())["summary"]["resumed_from_frame"] == 0
    for f in out.glob("clip.*"):
        f.unlink()

    done = kill_after_checkpoint(cmd, checkpoint, 200)
    assert done >= 200 and (out / ".clip.json.part").exists() and (out / ".clip.csv.part").exists()
    assert not (out / "clip.json").exists()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"continued from frame {done}" in again.stdout

    got = json.loads((out / "clip.json").read_text())
    assert got["summary"]["resumed_from_frame"] == done
    assert [f["index"] for f in got["frames"]] == list(range(FRAMES))
    assert got["summary"]["frames"] == FRAMES
    a, b = joints(got), joints(want)
    assert np.abs(a[..., :2] - b[..., :2]).max() < 0.05   # frames after the checkpoint as in an unbroken run
    assert np.abs(a[..., 2] - b[..., 2]).max() < 1e-3
    csv_lines = (out / "clip.csv").read_text().splitlines()
    assert csv_lines[0].startswith("frame,") and len(csv_lines) == 1 + FRAMES * 7
    ref_lines = (tmp_path / "ref" / "clip.csv").read_text().splitlines()
    assert [line.split(",")[:3] for line in csv_lines] == [line.split(",")[:3] for line in ref_lines]
    with av.open(str(out / "clip.mp4")) as c:   # the overlay is drawn again from the first frame
        assert sum(1 for _ in c.decode(video=0)) == FRAMES
        assert c.streams.audio
    assert not list(out.glob(".*"))  # no .part files or checkpoint left


def test_ctrl_c_after_a_checkpoint_says_where_the_rerun_continues(tmp_path, tiny_model):
    video = tmp_path / "clip.mp4"
    make_video(video, frames=FRAMES, size=(192, 144))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"annotate": {"resume_every": 40}}))
    out = tmp_path / "out"
    checkpoint = out / ".clip.resume.json"
    p = subprocess.Popen(annotate_cmd(video, out, tiny_model, config, "-q"), stderr=subprocess.PIPE, text=True,
                         preexec_fn=interruptible)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not checkpoint.exists():
        time.sleep(0.02)
    assert p.poll() is None, "the run finished before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    saved = json.loads(checkpoint.read_text())["frames"]
    assert p.returncode == 130 and "Traceback" not in err
    assert f"run the same command again to continue from frame {saved}" in err, err
    again = subprocess.run(annotate_cmd(video, out, tiny_model, config), capture_output=True, text=True)
    assert again.returncode == 0 and f"continued from frame {saved}" in again.stdout, again.stdout + again.stderr


def test_person_all_resumes_with_new_ids_above_those_written(tmp_path, tiny_model):
    """--person all, killed after a checkpoint and run again: every frame once, both people in each,
    and the people of the resumed part get ids above every id already written (a resumed tracker
    cannot know who was who)."""
    video = tmp_path / "two.mp4"
    people_video(video, [{"x": 120, "y": 200, "height": 180}, {"x": 480, "y": 210, "height": 180}], frames=400,
                 size=(640, 360))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"annotate": {"resume_every": 40}}))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "posevid.cli", "annotate", str(video), "-o", str(out), "--model", str(tiny_model),
           "--config", str(config), "--person", "all", "--no-video"]
    done = kill_after_checkpoint(cmd, out / ".two.resume.json", 120)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and f"continued from frame {done}" in again.stdout, again.stdout + again.stderr
    doc = json.loads((out / "two.json").read_text())
    validate(doc)
    by_frame: dict[int, list[int]] = {}
    for f in doc["frames"]:
        by_frame.setdefault(f["index"], []).append(f["person"])
    assert sorted(by_frame) == list(range(400))
    assert all(len(p) == 2 for p in by_frame.values()), by_frame
    before = {p for i in range(done) for p in by_frame[i]}
    after = {p for i in range(done, 400) for p in by_frame[i]}
    assert len(before) == 2 and len(after) == 2 and min(after) > max(before)
    csv_rows = (out / "two.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 7 * len(doc["frames"])
