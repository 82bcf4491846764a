"""posevid batch and export on folders of good and bad videos built here, including kill -9 mid-run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from synth import make_video

from posevid.cli import main


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "day1").mkdir(parents=True)
    make_video(root / "a.mp4", frames=8)
    make_video(root / "day1" / "b.mkv", frames=6, codec="mpeg4")
    make_video(root / "day1" / "no_extension", frames=5, fmt="mp4")  # found by probing, not by name
    (root / "bad.mp4").write_text("this is text, not a video\n")
    (root / "notes.txt").write_text("ignored")
    return root


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_batch_processes_good_videos_reports_bad_and_resumes(folder, tmp_path, tiny_model):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(folder), "-o", str(out), "--model", str(tiny_model), "-q"])
    assert r.exit_code == 1
    assert (out / "a.json").exists() and (out / "day1" / "b.mp4").exists()
    assert (out / "day1" / "no_extension.csv").exists()
    m = {e["video"]: e for e in manifest(out)}
    assert m["bad.mp4"]["status"] == "failed" and "not a readable video" in m["bad.mp4"]["error"]
    assert m["a.mp4"]["status"] == "done" and m["a.mp4"]["frames"] == 8
    assert "notes.txt" not in m
    mtime = (out / "a.json").stat().st_mtime_ns
    r2 = CliRunner().invoke(main, ["batch", str(folder), "-o", str(out), "--model", str(tiny_model)])
    assert "already done" in r2.output
    assert (out / "a.json").stat().st_mtime_ns == mtime  # done once, not redone
    assert [e["video"] for e in manifest(out)].count("a.mp4") == 1


def test_batch_with_two_workers(folder, tmp_path, tiny_model):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(folder), "-o", str(out), "--model", str(tiny_model), "-q",
                                  "--workers", "2", "--no-video"])
    assert r.exit_code == 1
    assert sorted(e["status"] for e in manifest(out)) == ["done", "done", "done", "failed"]


def test_kill_9_mid_batch_then_restart_finishes_each_video_once(tmp_path, tiny_model):
    root = tmp_path / "in"
    root.mkdir()
    for k in range(3):
        make_video(root / f"v{k}.mp4", frames=60, size=(192, 144))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "posevid.cli", "batch", str(root), "-o", str(out), "--model", str(tiny_model), "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(".v*.part")) and p.poll() is None:
        time.sleep(0.05)  # wait until a video is half-written
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    finished_before = {f.name for f in out.glob("v*.json")}
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not list(out.rglob("*.part"))
    for k in range(3):
        doc = json.loads((out / f"v{k}.json").read_text())  # whole, parseable
        assert len(doc["frames"]) == 60
    done = [e["video"] for e in manifest(out) if e["status"] == "done"]
    assert sorted(done) == sorted(f"v{k}.mp4" for k in range(3) if f"v{k}.json" not in finished_before)


def test_export_csv_and_openpose(folder, tmp_path, tiny_model):
    out = tmp_path / "out"
    CliRunner().invoke(main, ["batch", str(folder), "-o", str(out), "--model", str(tiny_model), "-q", "--no-video",
                              "--threshold", "0", "--roi", "letterbox"])
    r = CliRunner().invoke(main, ["export", str(out), "--csv", str(tmp_path / "tracks.csv")])
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "tracks.csv").read_text().splitlines()
    assert lines[0] == "video,frame,time,person,joint,x,y,confidence"
    assert lines[1].split(",")[3] == ""  # a fixed region: no person id
    assert len(lines) == 1 + (8 + 6 + 5) * 7
    r = CliRunner().invoke(main, ["export", str(out), "--format", "openpose", "--dest", str(tmp_path / "op")])
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "op" / "a").glob("*_keypoints.json"))
    assert len(files) == 8
    kp = json.loads(files[0].read_text())["people"][0]["pose_keypoints_2d"]
    assert len(kp) == 75 and kp[3 * 1] == 0.0 and kp[3 * 2] != 0.0  # neck empty, right shoulder filled


def test_batch_on_a_local_ray_instance(folder, tmp_path, tiny_model):
    ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "out"
        r = CliRunner().invoke(main, ["batch", str(folder), "-o", str(out), "--model", str(tiny_model), "-q",
                                      "--no-video", "--ray", "auto"])
        assert r.exit_code == 1, r.output
        statuses = {e["video"]: e["status"] for e in manifest(out)}
        assert statuses == {"a.mp4": "done", "day1/b.mkv": "done", "day1/no_extension": "done", "bad.mp4": "failed"}
    finally:
        ray.shutdown()
