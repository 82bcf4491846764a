"""The shipped model: loads safely, is the default of annotate, carries its learned pooling layer,
and finds the joints of a real person (the shipped clip, against MediaPipe's joints of it)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from click.testing import CliRunner
from synth import make_video, signer

from posevid.cli import main
from posevid.config import section
from posevid.network import weights
from posevid.network.weights import shipped_model
from posevid.person.roi import body_scale

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRESET = section("annotate")["preset"]


def test_shipped_model_is_the_default_and_complete(tmp_path):
    path = shipped_model(DEFAULT_PRESET)
    net, pool, meta = weights.load(path)
    assert net.preset.name == DEFAULT_PRESET and meta["arch"] == "spatialnet-fusion"
    assert pool is not None and pool.window >= 1 and torch.isfinite(pool.weight).all()
    video = tmp_path / "clip.mp4"
    make_video(video, frames=10, size=(160, 120))
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "-q", "--no-video"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "clip.json").read_text())
    assert doc["model"]["file"].endswith(f"posevid-{DEFAULT_PRESET}.pt") and doc["settings"]["pool"] == "parametric"
    assert doc["model"]["window_trained"] == pool.window


def test_shipped_model_finds_a_real_person_as_a_user_runs_it(tmp_path):
    """The quick start's clip with every default (person finding, threshold, window): the joints
    agree with MediaPipe's (tests/data, every 4th frame) within 0.3 body scales, about PCK@0.2
    torso. The constant prior gets no elbow or wrist right here, and a broken model none at all."""
    r = CliRunner().invoke(main, ["annotate", str(ROOT / "examples" / "signer.mp4"), "-o", str(tmp_path), "-q",
                                  "--no-video", "--no-csv"])
    assert r.exit_code == 0, r.output
    ours = {f["index"]: f for f in json.loads((tmp_path / "signer.json").read_text())["frames"]}
    ref = json.loads((ROOT / "tests" / "data" / "signer_mediapipe.json").read_text())["frames"]
    hits: dict[str, list[bool]] = {}
    for f in ref:
        names = list(f["joints"])
        xy = np.array([f["joints"][n][:2] if f["joints"][n][0] is not None else (np.nan, np.nan) for n in names],
                      dtype=float)
        labelled = np.isfinite(xy).all(1) & (np.array([f["joints"][n][2] for n in names]) >= 0.5)
        tol = 0.3 * body_scale(xy, labelled)
        for k, n in enumerate(names):
            if labelled[k]:
                j = ours[f["index"]]["joints"][n]
                ok = j["x"] is not None and np.hypot(j["x"] - xy[k, 0], j["y"] - xy[k, 1]) <= tol
                hits.setdefault(n.split("_")[-1], []).append(ok)
    rate = {k: float(np.mean(v)) for k, v in hits.items()}
    arms = hits.get("elbow", []) + hits.get("wrist", [])  # few: the arms are often out of this close frame
    assert rate["head"] >= 0.9 and rate["shoulder"] >= 0.9, rate
    assert len(arms) >= 10 and np.mean(arms) >= 0.5, rate


def test_precision_choices_agree_and_are_reported(tmp_path):
    """bf16 (what `auto` picks on CPUs that have it) gives the fp32 joints to within a pixel or
    two, the JSON says which arithmetic ran, and fp16 on the CPU is refused in one line."""
    video = tmp_path / "walk.mp4"
    make_video(video, frames=12, size=(160, 120))
    joints = {}
    for p in ("fp32", "bf16"):
        r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / p), "-q", "--no-video",
                                      "--no-csv", "--roi", "letterbox", "--threshold", "0", "--precision", p])
        assert r.exit_code == 0, r.output
        doc = json.loads((tmp_path / p / "walk.json").read_text())
        assert doc["model"]["precision"] == p
        joints[p] = np.array([[j["x"], j["y"]] for f in doc["frames"] for j in f["joints"].values()], dtype=float)
    diff = np.linalg.norm(joints["fp32"] - joints["bf16"], axis=1)
    assert len(diff) == 12 * 7 and np.isfinite(diff).all()
    assert np.median(diff) <= 1.0 and np.mean(diff <= 3.0) >= 0.9
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "h"), "--device", "cpu",
                                  "--precision", "fp16"])
    assert r.exit_code == 2 and "needs a CUDA device" in r.output and "Traceback" not in r.output


def test_shipped_detector_finds_the_signer_where_her_pose_puts_her():
    """The shipped person detector on the quick start's clip: one person and no more, framed as the
    crop rule frames MediaPipe's head and shoulders of her (centre within a quarter of the box,
    side within 1.5×) in at least 12 of the 15 frames with a reference (with her hands raised to
    the camera it takes her for a person twice as large in 3 of them, measured 2026-11-28)."""
    from posevid.io.video import VideoReader
    from posevid.person.detector import PersonDetector
    from posevid.person.roi import body_box
    from posevid.train.detector import matches

    ref = {f["index"]: f for f in json.loads((ROOT / "tests" / "data" / "signer_mediapipe.json").read_text())["frames"]}
    detector = PersonDetector()
    found = 0
    with VideoReader(ROOT / "examples" / "signer.mp4") as reader:
        for frame in reader.frames():
            if frame.index not in ref:
                continue
            j = ref[frame.index]["joints"]
            xy = np.array([j[n][:2] for n in ("head", "right_shoulder", "left_shoulder")], dtype=float)
            truth = body_box(np.vstack([xy, np.zeros((4, 2))]), np.array([1, 1, 1, 0, 0, 0, 0], bool))
            people = detector(frame.image)
            assert len(people) == 1
            found += matches([people[0].roi], [truth])
    assert len(ref) == 15 and found >= 12


def test_a_file_that_is_not_detector_weights_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "detector.pt"
    bad.write_bytes(b"not weights")
    video = tmp_path / "clip.mp4"
    make_video(video, frames=3, size=(160, 120))
    r = CliRunner().invoke(main, ["annotate", str(video), "-o", str(tmp_path / "o"), "-q", "--detector", str(bad)])
    assert r.exit_code == 5
    assert r.output.strip().endswith(f"not a posevid person detector file: {bad}")


def test_flip_averaging_mirrors_exactly_with_left_and_right_swapped():
    """--flip averages each crop's heatmaps with those of its mirror image, mirrored back with left
    and right swapped: so the mirrored crop gets exactly the mirrored, swapped heatmaps (a wrong
    axis or swap would break this), and the result is the plain maps' average with them."""
    from posevid.joints import FLIP_PERMUTATION
    from posevid.network.runtime import PoseNetwork

    clip, _ = signer()
    plain = PoseNetwork(None, DEFAULT_PRESET, device="cpu", precision="fp32")
    flipped = PoseNetwork(None, DEFAULT_PRESET, device="cpu", precision="fp32", flip=True)
    size = plain.input_size
    crop = cv2.resize(clip[0], (size, size))
    mirror = np.ascontiguousarray(crop[:, ::-1])
    a, b = flipped.heatmaps([crop, mirror]).numpy()
    assert np.allclose(b, a[list(FLIP_PERMUTATION)][:, :, ::-1], atol=1e-4)
    p, q = plain.heatmaps([crop, mirror]).numpy()
    assert np.allclose(a, (p + q[list(FLIP_PERMUTATION)][:, :, ::-1]) / 2, atol=1e-4)
    assert not np.allclose(a, p, atol=1e-2)  # the mirror adds something


def test_fp32_on_the_cpu_runs_the_large_kernels_through_nnpack_with_the_same_heatmaps():
    """In fp32 on the CPU the 5×5 to 13×13 convolutions run through NNPACK (runtime.with_nnpack,
    2.5× faster on AVX2 cores): the heatmaps must be those of the plain network, and the output
    JSON must say which library ran. bf16 keeps oneDNN, which has the bf16 kernels."""
    import pytest

    from posevid.network.runtime import NnpackConv2d, PoseNetwork, nnpack_ready

    if not nnpack_ready():
        pytest.skip("this torch has no NNPACK")
    fast = PoseNetwork(None, DEFAULT_PRESET, device="cpu", precision="fp32")
    assert fast.convolutions == "nnpack" and fast.describe()["convolutions"] == "nnpack"
    big = [m for m in fast.net.modules() if isinstance(m, NnpackConv2d)]
    assert len(big) >= 5 and not any(type(m) is torch.nn.Conv2d and min(m.kernel_size) >= 5
                                     for m in fast.net.modules())
    plain, _, _ = weights.load(shipped_model(DEFAULT_PRESET))
    clip, _ = signer()
    size = fast.input_size
    crops = [cv2.resize(clip[k], (size, size)) for k in (0, 5)]
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    with torch.inference_mode():
        want = plain(x)[1]
    assert torch.allclose(fast.heatmaps(crops), want, atol=1e-4)
    assert PoseNetwork(None, DEFAULT_PRESET, device="cpu", precision="bf16").convolutions == "onednn"
