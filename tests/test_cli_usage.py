"""Usage errors, validation and messages of the command line, as a newcomer meets them (issue 14).

Each case runs the real CLI; exit codes are the ones docs/cli.md documents.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from synth import make_video

from posevid.cli import main


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("usage") / "clip.mp4"
    make_video(path, frames=4, size=(96, 64))
    return path


@pytest.mark.parametrize("debug", [None, "1"])
@pytest.mark.parametrize("args", [
    ["--box", "1,2,3"], ["--box", "0,0,-5,10"], ["--box", "0,0,10,0"], ["--box", "a,b,c,d"],
    ["--person", "foo"], ["--threshold", "-1"], ["--threshold", "5"], ["--preset", "nonsense"],
    ["--flow", "optical"], ["--pool", "median"],
])
def test_bad_options_are_usage_errors_with_or_without_debug(clip, tmp_path, args, debug):
    r = run("annotate", str(clip), "-o", str(tmp_path), *args, env={"POSEVID_DEBUG": debug})
    assert r.exit_code == 2, r.output
    assert "Usage:" in r.output and "internal error" not in r.output


def test_box_outside_the_frame_is_refused(clip, tiny_model, tmp_path):
    r = run("annotate", str(clip), "-o", str(tmp_path), "--model", str(tiny_model), "--box", "5000,5000,100,100", "-q")
    assert r.exit_code == 2
    assert "outside the 96x64 frame" in r.output
    assert not list(tmp_path.glob("*.json"))


def test_box_partly_inside_the_frame_is_accepted(clip, tiny_model, tmp_path):
    r = run("annotate", str(clip), "-o", str(tmp_path), "--model", str(tiny_model), "--box", "50,30,100,100", "-q",
            "--no-video")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04 not a zip at all"])
def test_bad_weight_files_say_so_without_torch_text(clip, tmp_path, content):
    model = tmp_path / "model.pt"
    model.write_bytes(content)
    r = run("annotate", str(clip), "-o", str(tmp_path / "o"), "--model", str(model))
    assert r.exit_code == 5, r.output
    assert f"not a posevid weight file: {model}" in r.output
    assert "weights_only" not in r.output


def test_export_without_csv_is_a_usage_error(tmp_path):
    r = run("export", str(tmp_path))
    assert r.exit_code == 2
    assert "--csv" in r.output


@pytest.mark.parametrize("yaml_text, message", [
    ("annotate: {flow: [unclosed", "not valid YAML"),
    ("annotate: {threshold: 2}", "threshold"),
    ("annotate: {flow: optical}", "flow"),
    ("annotate: {nonsense_key: 1}", "unknown config key"),
    ("annotate: {box: [1, 2, 3]}", "box"),
    ("annotate: {person: someone}", "person"),
])
def test_bad_config_files_are_usage_errors(clip, tmp_path, yaml_text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    r = run("annotate", str(clip), "-o", str(tmp_path / "o"), "--config", str(cfg))
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_absent_cuda_and_fp16_on_cpu_are_usage_errors(clip, tiny_model, tmp_path):
    import torch

    if not torch.cuda.is_available():
        r = run("annotate", str(clip), "-o", str(tmp_path), "--model", str(tiny_model), "--device", "cuda")
        assert r.exit_code == 2 and "CUDA" in r.output
    r = run("annotate", str(clip), "-o", str(tmp_path), "--model", str(tiny_model), "--device", "cpu",
            "--precision", "fp16")
    assert r.exit_code == 2 and "fp16" in r.output


def test_help_shows_every_default():
    r = run("annotate", "--help")
    assert r.exit_code == 0
    for option in ("--flow", "--pool", "--threshold", "--batch-size", "--roi", "--flow-size", "--person", "--preset"):
        entry = r.output[r.output.index("\n  " + option):]  # the option's own entry, up to the next one
        assert "[default:" in entry[1:].split("\n  -")[0], option


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["annotate", "--help"], ["batch", "--help"]])
def test_help_and_version_do_not_import_torch(args):
    code = ("import sys\nfrom posevid.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_batch_manifest_keeps_one_current_line_per_video(tmp_path, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "good.mp4", frames=3, size=(64, 48))
    (src / "broken.mp4").write_bytes(b"not a video at all" * 10)
    for _ in range(3):
        run("batch", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "-q", "--no-video")
    lines = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(e["video"] for e in lines) == ["broken.mp4", "good.mp4"]
    broken = next(e for e in lines if e["video"] == "broken.mp4")
    assert broken["status"] == "failed" and broken["attempts"] == 3
