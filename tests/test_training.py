"""Training on images generated here: the loss goes down, resume is exact, readers parse, PCK is right."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from synth import draw_figure, figure_joints, texture

from posevid.config import section
from posevid.io.writers import JsonWriter, frame_record
from posevid.joints import FLIP_PERMUTATION
from posevid.network import weights
from posevid.train.datasets import read_coco, read_joints_mat, read_posevid, read_source
from posevid.train.evaluate import pck_table, torso_pck
from posevid.train.pose import train


def figure_images(folder: Path, n: int = 12) -> list[np.ndarray]:
    """Photos of stick figures with their joints, saved as im00001.jpg ... (LSP naming)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    truth = []
    for k in range(1, n + 1):
        img = texture(160, 160, seed=k)
        j = figure_joints(80 + rng.uniform(-10, 10), 70 + rng.uniform(-10, 10), 28, phase=k)
        draw_figure(img, j, 28)
        cv2.imwrite(str(folder / f"im{k:05d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        truth.append(j)
    return truth


def posevid_labels(path: Path, images: Path, truth: list[np.ndarray]) -> None:
    w = JsonWriter(path, {"images": str(images)})
    for k, j in enumerate(truth, start=1):
        rec = frame_record(k, 0.0, j, np.ones(7), 0.5)
        rec["image"] = f"im{k:05d}.jpg"
        w.add(rec)
    w.close({})


def tiny_config(tmp_path: Path, labels: Path, **over) -> dict:
    cfg = section("train", None, preset="tiny", stage="fusion", out=str(tmp_path / "run"),
                  data=[{"type": "posevid", "labels": str(labels)}], optimizer="adam", lr=3e-3,
                  batch_size=4, iterations=40, schedule="cosine", warmup=5, batchnorm=True, patch=96, log_every=1,
                  augment={"crop": 0.97, "shift": 0.02, "flip": 0.5, "rotate": 10.0, "scale": 0.0, "colour": 0.0})
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def figure_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    truth = figure_images(root / "images")
    posevid_labels(root / "labels.json", root / "images", truth)
    return root, truth


def fixed_batch_loss(net: torch.nn.Module, cfg: dict) -> float:
    """L2 heatmap loss of a network on a fixed set of augmented training batches."""
    from posevid.train.pose import TrainingData, heatmap_loss

    data = TrainingData(cfg, 256, 64)
    total = 0.0
    with torch.inference_mode():
        for step in range(4):
            x, target, w, _ = data.batch(1000 + step)
            _, fused = net(x)
            total += float(heatmap_loss(fused, target, w))
    return total / 4


def test_loss_goes_down_on_generated_figures(tmp_path, figure_set):
    from posevid.network.nets import SpatialNetFusion
    from posevid.network.presets import PRESETS

    root, _ = figure_set
    cfg = tiny_config(tmp_path, root / "labels.json", iterations=60, validation=[{"type": "posevid", "labels": str(
        root / "labels.json")}], validate_every=30)
    torch.manual_seed(0)
    before = fixed_batch_loss(SpatialNetFusion(PRESETS["tiny"]).eval(), cfg)
    torch.manual_seed(0)
    path = train(cfg, progress=False)
    net, pool, meta = weights.load(path)
    after = fixed_batch_loss(net, cfg)
    assert after < 0.85 * before, (before, after)
    assert meta["iterations"] == 60 and net.preset.name == "tiny"
    assert not any("BatchNorm" in type(m).__name__ for m in net.modules())  # folded at export
    assert len((tmp_path / "run" / "loss.csv").read_text().splitlines()) == 61
    # the held-out curve is written during the run: a row per validation, PCK per joint type
    rows = (tmp_path / "run" / "validation.csv").read_text().splitlines()
    assert rows[0].split(",")[:6] == ["step", "loss", "head", "shoulders", "elbows", "wrists"]
    assert [r.split(",")[0] for r in rows[1:]] == ["30", "60"]
    assert float(rows[2].split(",")[1]) < float(rows[1].split(",")[1]) * 1.5


def test_batchnorm_folds_into_the_convolutions_exactly():
    from posevid.network.nets import SpatialNetFusion, fold_batchnorm
    from posevid.network.presets import PRESETS

    torch.manual_seed(0)
    net = SpatialNetFusion(PRESETS["tiny"], batchnorm=True).train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from their initial values
            net(torch.rand(4, 3, 256, 256))
    net.eval()
    plain = fold_batchnorm(net)
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        for a, b in zip(net(x), plain(x), strict=True):
            assert torch.allclose(a, b, atol=1e-4)
    assert set(plain.state_dict()) == set(SpatialNetFusion(PRESETS["tiny"]).state_dict())


@pytest.mark.parametrize("factor", [2.0, 1.5])
def test_a_wider_network_starts_as_the_narrow_one_even_in_training_mode(factor):
    """train/widen.py copies every channel (once or more: h128 -> w128 is 1.5 times), and
    calibrate_batchnorm sets the new BatchNorm layers to pass that function on: in training mode
    (batch statistics) the wide network computes what the trained narrow one does, instead of
    starting from scratch."""
    from dataclasses import replace

    from posevid.network.nets import SpatialNetFusion, calibrate_batchnorm
    from posevid.network.presets import PRESETS
    from posevid.train.widen import widen, widens

    narrow_preset = replace(PRESETS["tiny"], input_size=64, heatmap_size=16)
    wide_preset = replace(narrow_preset, name="wide", spatial=tuple(round(factor * c) for c in narrow_preset.spatial),
                          fusion=tuple(round(factor * c) for c in narrow_preset.fusion))
    assert widens(narrow_preset, wide_preset) and not widens(wide_preset, narrow_preset)
    assert not widens(narrow_preset, narrow_preset)
    torch.manual_seed(0)
    narrow = SpatialNetFusion(narrow_preset).eval()
    for m in narrow.modules():  # outputs of a visible size, like a trained net's
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.3)
            torch.nn.init.normal_(m.bias, std=0.1)
    x = torch.rand(8, 3, 64, 64)
    wide = SpatialNetFusion(wide_preset, batchnorm=True)
    widen(narrow, wide, noise=0.0)
    calibrate_batchnorm(wide, x)
    wide.train()
    with torch.no_grad():
        for a, b in zip(narrow(x), wide(x), strict=True):
            assert a.abs().max() > 0.1
            assert torch.allclose(a, b, atol=1e-3 * float(a.abs().max()))
    widen(narrow, wide)  # with the default noise the copies differ, so they can learn apart
    n = narrow.conv2[0].out_channels
    assert not torch.equal(wide.conv2[0].weight[: wide.conv2[0].out_channels - n],
                           wide.conv2[0].weight[n:])


def test_a_run_at_another_input_size_starts_from_the_same_layers_weights(tmp_path):
    """h160 has h128's layers on a larger crop: `init: posevid-h128.pt` must start it with those
    weights as they are (the network is fully convolutional), and a preset with other layers
    that is not twice as wide must still be refused with one line."""
    from posevid.errors import PosevidError
    from posevid.network.nets import SpatialNetFusion
    from posevid.network.presets import PRESETS
    from posevid.train.pose import _initial

    torch.manual_seed(0)
    src = SpatialNetFusion(PRESETS["h128"]).eval()
    path = tmp_path / "h128.pt"
    weights.save(path, src, None, {})
    cfg = section("train", None, preset="h160", stage="fusion", init=str(path), batchnorm=True)
    net = _initial(cfg, torch.device("cpu"))
    assert net.preset.input_size == 160
    for name, tensor in src.state_dict().items():
        assert torch.equal(net.state_dict()[name], tensor), name
    with pytest.raises(PosevidError, match="does not match"):
        _initial({**cfg, "preset": "q128"}, torch.device("cpu"))


def test_joints_pushed_out_of_the_crop_are_ignored_not_trained_as_absent(tmp_path, figure_set):
    from posevid.train.pose import TrainingData

    root, _ = figure_set
    cfg = tiny_config(tmp_path, root / "labels.json")
    data = TrainingData(cfg, 256, 64)
    shift = {"crop": 1.0, "shift": 0.0, "flip": 0.0, "rotate": 0.0, "scale": 0.0, "colour": 0.0}
    x, target, w, joints = data.crops([0], [np.random.default_rng(0)], shift)
    assert w.all()  # the crop rule's box holds every joint of the figure
    data.joints[0] = data.joints[0] + [0, 90]  # pretend the figure sits low: arms below the crop
    _, target, w, joints = data.crops([0], [np.random.default_rng(0)], shift)
    outside = (joints[0] > 255).any(1)
    assert outside.any() and not w[0][outside].any() and w[0][~outside].all()
    data.cfg["ignore_outside"] = False  # the old recipe: out-of-crop joints weighted as "absent"
    _, target, w, _ = data.crops([0], [np.random.default_rng(0)], shift)
    assert w.all() and not target[0][outside].any()


def test_spin_turns_crops_every_way_and_the_joints_with_them():
    from posevid.train.datasets import CACHE_MARGIN, augment

    size, p = 64, 96
    patch = np.zeros((p, p, 3), np.uint8)
    joints = np.array([[48.0, 30.0]] * 7)       # every joint on one white dot above the centre
    cv2.circle(patch, (48, 30), 2, (255, 255, 255), -1)
    fixed = {"crop": 1.0, "shift": 0.0, "flip": 0.0, "rotate": 10.0, "scale": 0.0, "colour": 0.0}
    angles = []
    for seed in range(60):
        img, pts, _ = augment(patch, joints, np.ones(7, bool), np.random.default_rng(seed),
                              {**fixed, "spin": 0.5}, size)
        y, x = np.unravel_index(np.argmax(img[..., 0]), img.shape[:2])
        assert np.hypot(x - pts[0, 0], y - pts[0, 1]) < 2.5   # the label follows the pixels
        c = size / 2
        angles.append(np.degrees(np.arctan2(pts[0, 0] - c, c - pts[0, 1])))
    angles = np.abs(np.array(angles))
    assert (angles <= 10.5).mean() > 0.3 and (angles > 90).sum() >= 5   # upright and upside down both
    assert p / CACHE_MARGIN == size  # the box is the whole crop: rotation about its centre
    no_spin = [augment(patch, joints, np.ones(7, bool), np.random.default_rng(s), fixed, size)[1][0]
               for s in range(30)]
    assert all(abs(np.degrees(np.arctan2(q[0] - 32, 32 - q[1]))) <= 10.5 for q in no_spin)


def test_a_scale_range_draws_crops_between_its_factors_leaning_large():
    from posevid.train.datasets import CACHE_MARGIN, augment

    size, p = 64, 96
    box = p / CACHE_MARGIN
    patch = np.zeros((p, p, 3), np.uint8)
    joints = np.array([[48.0 - 10, 48.0], [48.0 + 10, 48.0]] + [[48.0, 48.0]] * 5)  # 20 px apart
    fixed = {"crop": 1.0, "shift": 0.0, "flip": 0.0, "rotate": 0.0, "colour": 0.0}

    def factors(scale: object) -> np.ndarray:
        # the crop's side over the box, from how far apart the two joints land
        out = []
        for seed in range(200):
            _, pts, _ = augment(patch, joints, np.ones(7, bool), np.random.default_rng(seed),
                                {**fixed, "scale": scale}, size)
            out.append(20 * size / (box * np.linalg.norm(pts[1] - pts[0])))
        return np.array(out)

    lean = factors([0.74, 1.7])
    assert lean.min() >= 0.74 - 1e-3 and lean.max() <= 1.7 + 1e-3
    assert lean.min() < 0.8 and lean.max() > 1.6       # the whole range is drawn
    assert np.mean(lean > 1) > 0.6                      # most crops are larger than the box
    even = factors(0.35)
    assert even.min() >= 1 / 1.35 - 1e-3 and even.max() <= 1.35 + 1e-3
    assert 0.35 < np.mean(even > 1) < 0.65
    with pytest.raises(ValueError, match="lo <= hi"):
        factors([1.5, 0.8])


def face_file(path: Path, root: Path, truth: list[np.ndarray]) -> Path:
    """A face-points file (train/faces.py) for the figures: the nose on the head, the eyes and
    ears either side of it, the person's left on the image's right (figures face the camera)."""
    from posevid.train.faces import write_face_points

    photos = {}
    for k, j in enumerate(truth, start=1):
        x, y = (float(v) for v in j[0])
        photos[str(root / "images" / f"im{k:05d}.jpg")] = [
            [x, y + 4, 0.9], [x + 5, y - 2, 0.9], [x - 5, y - 2, 0.9], [x + 9, y, 0.9], [x - 9, y, 0.2]]
    write_face_points(photos, path)
    return path


def test_face_points_are_taught_beside_the_joints_and_left_out_at_export(tmp_path, figure_set):
    """train.faces with face_weight: 12 heatmaps while training (the face points after the joints,
    mirrored with them, weighted by face_weight, unlabelled below the visibility floor); the weight
    file keeps the joints' 7, and computes exactly the trained network's joint heatmaps."""
    from posevid.network.nets import SpatialNetFusion, fold_batchnorm
    from posevid.network.presets import PRESETS
    from posevid.train.pose import TrainingData, _net_for, load_joints_first

    root, truth = figure_set
    cfg = tiny_config(tmp_path, root / "labels.json", faces=str(face_file(tmp_path / "faces.json", root, truth)),
                      face_weight=0.5, iterations=8)
    data = TrainingData(cfg, 256, 64)
    assert data.joints.shape[1:] == (12, 2)
    still = {"crop": 1.0, "shift": 0.0, "flip": 0.0, "rotate": 0.0, "scale": 0.0, "colour": 0.0}
    _, target, w, pts = data.crops([0], [np.random.default_rng(0)], still)
    assert target.shape[1] == 12 and w[0].tolist() == [1] * 7 + [0.5] * 4 + [0]  # right ear seen too little
    assert pts[0, 8, 0] > pts[0, 0, 0] > pts[0, 9, 0]   # left eye on the image's right, as given
    _, _, w_flip, flipped = data.crops([0], [np.random.default_rng(0)], {**still, "flip": 1.0})
    # mirrored, the person still faces the camera: the left eye is the right eye's mirror image
    assert np.allclose([flipped[0, 8, 0], flipped[0, 9, 0]], [255 - pts[0, 9, 0], 255 - pts[0, 8, 0]], atol=1e-3)
    assert w_flip[0].tolist() == [1] * 7 + [0.5, 0.5, 0.5, 0, 0.5]   # and the ears swap their labels
    # the validation samples (no face file) keep the 12 channels, their face points unlabelled
    assert TrainingData({**cfg, "faces": None}, 256, 64).crops([0], [np.random.default_rng(0)], still)[2][0,
                                                                                                        7:].sum() == 0

    torch.manual_seed(0)
    path = train(cfg, progress=False)
    shipped, _, _ = weights.load(path)
    assert shipped.conv8[0].out_channels == 7 and shipped.fusion[-1][0].out_channels == 7
    trained = _net_for(cfg)
    trained.load_state_dict(torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["net"])
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        for a, b in zip(trained.eval()(x), shipped(x), strict=True):
            assert a.shape[1] == 12 and torch.allclose(a[:, :7], b, atol=1e-4)
        # a face run started from a 7-joint file: the file's joints first, the face channels fresh
        start = SpatialNetFusion(PRESETS["tiny"], 12, batchnorm=True)
        load_joints_first(start, shipped.state_dict())
        assert torch.equal(start.conv8[0].weight[:7], shipped.conv8[0].weight)
        assert start.conv8[0].weight[7:].abs().max() < 0.01
        assert torch.allclose(fold_batchnorm(start.eval())(x)[0], shipped(x)[0], atol=1e-4)


def test_resume_reproduces_a_straight_run(tmp_path, figure_set):
    root, _ = figure_set
    torch.manual_seed(0)
    straight = train(tiny_config(tmp_path / "a", root / "labels.json", iterations=6), progress=False)
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path / "b", root / "labels.json", iterations=6)
    train(cfg, progress=False, max_steps=3)
    resumed = train(cfg, resume=True, progress=False)
    a, _, _ = weights.load(straight)
    b, _, meta = weights.load(resumed)
    assert meta["iterations"] == 6
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(ta, tb, atol=1e-6), name


def test_lsp_and_flic_mat_readers(tmp_path):
    lsp = np.zeros((14, 3, 2))
    lsp[:, 0, 0] = np.arange(14) * 10 + 5
    lsp[:, 1, 0] = 50
    lsp[:, 2, 0] = 1
    lsp[6, :2, 0] = -1  # right wrist outside the image
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": lsp})
    s = read_joints_mat(tmp_path / "joints.mat", tmp_path, 1, 1)
    assert len(s) == 1
    assert s[0].joints[0].tolist() == [(120 + 130) / 2 + 5, 50]           # head = mean(neck, head top)
    assert s[0].joints[1].tolist() == [85, 50]                            # right shoulder = LSP 8
    assert s[0].labelled.tolist() == [True, True, True, True, True, False, True]
    lsp[12, :2, 0] = -1  # neck missing: the head top alone is another point, so no head label
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": lsp})
    assert not read_joints_mat(tmp_path / "joints.mat", tmp_path, 1, 1)[0].labelled[0]
    flic = np.zeros((2, 29, 1))
    flic[0, :, 0] = np.arange(29)
    flic[1, :, 0] = 7
    scipy.io.savemat(tmp_path / "flic.mat", {"coords": flic})
    f = read_joints_mat(tmp_path / "flic.mat", tmp_path, 1, 1)[0]
    assert np.allclose(f.joints[0], [(12 + 13 + 16) / 3, 7]) and f.joints[1].tolist() == [3, 7]


def test_coco_reader_maps_keypoints(tmp_path):
    kp = np.zeros((17, 3))
    kp[:11, 0] = np.arange(11) * 2
    kp[:11, 1] = 4
    kp[:11, 2] = 2
    doc = {"images": [{"id": 7, "file_name": "a.jpg"}],
           "annotations": [{"image_id": 7, "keypoints": kp.ravel().tolist(), "iscrowd": 0}]}
    (tmp_path / "coco.json").write_text(json.dumps(doc))
    s = read_coco(tmp_path / "coco.json", tmp_path)
    assert len(s) == 1 and s[0].source.endswith("a.jpg")
    assert s[0].joints[1].tolist() == [12, 4] and s[0].joints[6].tolist() == [18, 4]
    assert s[0].joints[0].tolist() == [4, 4]  # mean of nose, eyes, ears at x = 0, 2, 4, 6, 8


def test_coco_style_files_that_name_other_points_are_read_by_name(tmp_path):
    """Human3.6M's 17 points are not COCO's (index 5 is its right knee, not a shoulder), and AI
    Challenger's 14 have a head top and a neck instead of face points: read by their names."""
    h36m = ["root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot", "spine",
            "thorax", "neck_base", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
            "right_elbow", "right_wrist"]
    aic = ["Right Shoulder", "Right Elbow", "Right Wrist", "Left Shoulder", "Left Elbow", "Left Wrist", "Right Hip",
           "Right Knee", "Right Ankle", "Left Hip", "Left Knee", "Left Ankle", "Head top", "Neck"]
    for names in (h36m, aic):
        kp = np.array([[10.0 * i, 3.0 * i, 2] for i in range(len(names))])
        doc = {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"keypoints": names}],
               "annotations": [{"image_id": 1, "keypoints": kp.ravel().tolist()}]}
        (tmp_path / "k.json").write_text(json.dumps(doc))
        s, = read_coco(tmp_path / "k.json", tmp_path)
        at = {n.lower().replace(" ", "_"): kp[i, :2] for i, n in enumerate(names)}
        assert s.labelled.all()
        assert s.joints[1].tolist() == at["right_shoulder"].tolist()
        assert s.joints[6].tolist() == at["left_wrist"].tolist()
        top, neck = (at["head"], at["neck_base"]) if "head" in at else (at["head_top"], at["neck"])
        assert np.allclose(s.joints[0], (top + neck) / 2)
        assert s.torso == pytest.approx(np.linalg.norm(at["right_shoulder"] - at["left_hip"]))


def test_posevid_reader_round_trips_annotate_json(tmp_path, figure_set):
    root, truth = figure_set
    s = read_posevid(root / "labels.json")
    assert len(s) == len(truth)
    assert np.allclose(s[0].joints, truth[0], atol=0.01) and s[0].labelled.all()


def test_repeat_draws_a_source_more_often(tmp_path, figure_set):
    from posevid.train.pose import TrainingData

    root, truth = figure_set
    cfg = tiny_config(tmp_path, root / "labels.json")
    cfg["data"] = [{"type": "posevid", "labels": str(root / "labels.json")},
                   {"type": "posevid", "labels": str(root / "labels.json"), "repeat": 3}]
    data = TrainingData(cfg, 256, 64)
    n = len(truth)
    assert len(data) == 2 * n                     # each sample's pixels cached once
    counts = np.bincount(data.pool, minlength=2 * n)
    assert (counts[:n] == 1).all() and (counts[n:] == 3).all()
    with pytest.raises(ValueError, match="repeat"):
        read_source({"type": "posevid", "labels": str(root / "labels.json"), "repeat": 0})


def test_pck_matches_hand_computed_values():
    d = np.array([[1.0, 2.0, 7.0, 5.0, 11.0, 30.0, np.nan],
                  [0.0, 9.0, 9.0, 6.0, 6.0, 3.0, 4.0]])
    t = pck_table(d, 10)
    assert t["head"][0] == 50.0 and t["head"][1] == 100.0
    assert t["shoulders"][6] == 25.0 and t["shoulders"][7] == 50.0 and t["shoulders"][9] == 100.0  # 2, 7, 9, 9
    assert t["elbows"][5] == 25.0 and t["elbows"][6] == 75.0             # 5, 11, 6, 6
    assert t["wrists"][4] == pytest.approx(200 / 3)                      # 30, 3, 4 (NaN skipped)
    tp = torso_pck(d, np.array([10.0, np.nan]))
    assert tp["head"] == 100.0 and tp["shoulders"] == 50.0 and tp["wrists"] == 0.0  # within 0.2 x 10 px


def test_pooling_stage_learns_weights_from_warped_video_frames(tmp_path, tiny_model):
    """Stage 3 end to end on a labelled synthetic video; the weights are saved and can be plotted."""
    from synth import make_video

    from posevid.train.plot_pool import plot_pool_weights
    from posevid.train.pool import train_pooling

    video = tmp_path / "clip.mp4"
    truth = make_video(video, frames=12, size=(160, 120))
    w = JsonWriter(tmp_path / "clip.json", {"video": {"path": str(video)}})
    for i, j in enumerate(truth):
        w.add(frame_record(i, i / 25, j, np.ones(7), 0.5))
    w.close({})
    cfg = section("train", None, stage="pooling", init=str(tiny_model), out=str(tmp_path / "run"), window=2,
                  iterations=30, lr=0.05, data=[{"type": "posevid", "labels": str(tmp_path / "clip.json")}])
    path = train_pooling(cfg, progress=False)
    net, pool, meta = weights.load(path)
    assert pool.window == 2 and meta["pooling"]["frames"] == 12
    assert not torch.allclose(pool.weight, torch.full_like(pool.weight, 0.2))  # it moved from the uniform start
    losses = [float(r.split(",")[1]) for r in (tmp_path / "run" / "pool_loss.csv").read_text().splitlines()[1:]]
    assert losses[-1] < losses[0]
    assert plot_pool_weights(path, tmp_path / "w.png").stat().st_size > 1000


def test_coordinate_net_baseline_trains_and_saves(tmp_path, figure_set):
    root, _ = figure_set
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path, root / "labels.json", stage="coordinate", iterations=30, lr=1e-3)
    path = train(cfg, progress=False)
    net, pool, meta = weights.load(path)
    assert meta["arch"] == "coordinate" and pool is None
    losses = [float(r.split(",")[1]) for r in (tmp_path / "run" / "loss.csv").read_text().splitlines()[1:]]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    with torch.inference_mode():
        assert net(torch.rand(2, 3, 256, 256)).shape == (2, 7, 2)


def test_crops_with_nobody_in_them_teach_every_joint_absent(tmp_path):
    """augment.empty: that share of crops shows a background with nobody in it (a part of a
    labelled video frame away from its person, here a real one) and is taught all-zero heatmaps
    at full weight; the other crops are the labelled person's, as before."""
    from synth import people_video

    from posevid.train.pose import TrainingData

    video = tmp_path / "wide.mp4"
    truth = people_video(video, [{"x": 110, "y": 150, "height": 200}], frames=30)
    w = JsonWriter(tmp_path / "labels.json", {"video": {"path": str(video)}})
    for i, row in enumerate(truth):
        joints = np.full((7, 2), np.nan)
        joints[:3] = row[0]
        w.add(frame_record(i, i / 25, joints, np.array([1, 1, 1, 0, 0, 0, 0.0]), 0.5))
    w.close({})
    cfg = tiny_config(tmp_path, tmp_path / "labels.json", augment={"crop": 1.0, "empty": 0.5})
    data = TrainingData(cfg, 64, 16)
    assert data.backgrounds and all(b.shape[1] < 640 for b in data.backgrounds)  # strips beside the person
    x, target, weight, _ = data.crops(list(range(20)), [np.random.default_rng(k) for k in range(20)], cfg["augment"])
    empty = [k for k in range(20) if target[k].sum() == 0]
    assert 4 <= len(empty) <= 16
    assert all(weight[k].sum() == 7 for k in empty)                    # every joint: absent, at full weight
    assert all(target[k].amax() > 0.5 and weight[k, 3:].sum() == 0 for k in range(20) if k not in empty)
    assert float(x[empty].std()) > 0.02                                   # a picture, not a blank


def test_packed_samples_train_without_their_sources(tmp_path, figure_set):
    """`posevid train CONFIG --pack DIR` writes the decoded crops of data and validation; a config
    with `packed: DIR` trains and validates from them alone (here with the images deleted), the
    crops within WebP's loss of the originals and the joints scaled with them."""
    import shutil

    import yaml
    from click.testing import CliRunner

    from posevid.cli import main
    from posevid.train.pose import TrainingData

    root, _ = figure_set
    copy = tmp_path / "figures"
    shutil.copytree(root, copy)
    cfg = tiny_config(tmp_path, copy / "labels.json", iterations=4, validate_every=2)
    cfg["data"][0]["repeat"] = 3
    cfg["validation"] = [{"type": "posevid", "labels": str(copy / "labels.json")}]
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({"train": cfg}))
    res = CliRunner().invoke(main, ["train", str(tmp_path / "train.yaml"), "--pack", str(tmp_path / "pack"),
                                    "--pack-size", "64"])
    assert res.exit_code == 0, res.output
    assert "12 data samples, 12 validation samples packed" in res.output
    original = TrainingData(cfg, 64, 16)
    shutil.rmtree(copy)
    packed_cfg = {**cfg, "packed": str(tmp_path / "pack"), "data": [], "validation": []}
    packed = TrainingData(packed_cfg, 64, 16)
    assert packed.patches.shape == (12, 64, 64, 3) and (np.bincount(packed.pool) == 3).all()
    shrunk = np.stack([cv2.resize(p, (64, 64), interpolation=cv2.INTER_AREA) for p in original.patches])
    assert np.abs(packed.patches.astype(int) - shrunk).mean() < 12  # noise texture: a codec's worst case
    assert np.allclose(packed.joints, original.joints * 64 / cfg["patch"], atol=1e-4)
    assert (packed.labelled == original.labelled).all()
    weights_file = train(packed_cfg, progress=False)
    assert weights.load(weights_file)[2]["iterations"] == 4
    rows = (tmp_path / "run" / "validation.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4"]


def test_batches_made_by_worker_processes_are_the_loops_own(tmp_path, figure_set):
    """train.workers: processes make the batches ahead, in order and identical to the batches the
    loop would make itself (so resuming stays exact), also after OpenCV has run threads in the
    parent."""
    from posevid.train.feeding import batch_stream
    from posevid.train.pose import TrainingData

    root, _ = figure_set
    data = TrainingData(tiny_config(tmp_path, root / "labels.json"), 64, 16)
    cv2.setNumThreads(2)
    cv2.warpAffine(np.zeros((1000, 1000, 3), np.uint8), np.eye(2, 3), (1000, 1000))
    stream = batch_stream(data.batch, 5, workers=2)
    for step in (5, 6, 7):
        for got, want in zip(next(stream), data.batch(step), strict=True):
            assert torch.equal(got, want)


def test_a_time_budget_sets_the_end_of_the_schedule_and_stops_the_run(tmp_path, figure_set):
    """train.minutes: after the probe the planned last step fills the budget less its reserve (on
    a clock that ticks 0.1 s a step, a 1-minute budget is about 550 steps), the budget's end stops
    a run whatever its schedule says, and the weights are exported as usual."""
    from posevid.train.feeding import PROBE_SKIP, PROBE_STEPS, RESERVE, TimeBudget

    now = [0.0]
    budget = TimeBudget(1.0, 100, clock=lambda: now[0])
    planned = None
    for step in range(101, 101 + PROBE_SKIP + PROBE_STEPS):
        now[0] += 0.1
        planned = budget.plan(step)
        assert (planned is None) == (step < 100 + PROBE_SKIP + PROBE_STEPS)
    assert planned == pytest.approx(100 + 600 * (1 - RESERVE), abs=2)
    assert not budget.over()
    now[0] = 60.5
    assert budget.over()

    root, _ = figure_set
    exported = train(tiny_config(tmp_path, root / "labels.json", iterations=10**6, minutes=0.01), progress=False)
    assert 1 <= weights.load(exported)[2]["iterations"] < 10**6


def test_ctrl_c_to_the_whole_process_group_still_saves_and_exports(tmp_path, figure_set):
    """With batch workers, Ctrl-C (or `timeout`'s SIGTERM) reaches every process of the group:
    the workers leave it to the loop, which ends its step, saves its checkpoint, exports its
    weights and says how to resume, instead of dying of a killed worker."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from posevid.errors import INTERRUPTED

    root, _ = figure_set
    cfg = tiny_config(tmp_path, root / "labels.json", iterations=10**6, workers=2)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({"train": cfg}))
    proc = subprocess.Popen([sys.executable, "-m", "posevid.cli", "train", str(tmp_path / "train.yaml"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log = tmp_path / "run" / "loss.csv"
    for _ in range(600):  # until a few steps are logged
        if log.exists() and len(log.read_text().splitlines()) > 3:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == INTERRUPTED, out
    assert "interrupted at step" in out and "--resume" in out and "Traceback" not in out
    assert weights.load(tmp_path / "run" / "model.pt")[2]["iterations"] >= 3


def test_pack_every_keeps_one_video_sample_in_k_and_every_photo(tmp_path):
    """--pack-every k: the first of every k video samples (in order), every photo sample."""
    from posevid.train.pack import Packed, read_pack, write_pack

    n = 10
    packed = Packed(np.full((n, 32, 32, 3), 100, np.uint8), np.arange(n * 14, dtype=np.float32).reshape(n, 7, 2),
                    np.ones((n, 7), bool), np.ones(n, np.int64), [])
    is_video = np.array([False, True, True, True, True, True, True, True, False, True])
    assert write_pack(tmp_path / "p.npz", packed, 32, every_video=3, is_video=is_video) == 5
    kept = read_pack(tmp_path / "p.npz").joints[:, 0, 0] / 14
    assert kept.tolist() == [0, 1, 4, 7, 8]  # photos 0 and 8; video samples 1, 4, 7 (not 9: it is the 8th video)


def test_the_nnpack_convolution_computes_and_trains_as_torchs_own():
    """In fp32 on the CPU training and inference run the large kernels through NNPACK
    (network/runtime.py): its output and every gradient (the input's by NNPACK too) must be
    those of torch's Conv2d with the same weights, and swapping keeps parameters and state keys."""
    from posevid.network.runtime import NnpackConv2d, nnpack_ready, with_nnpack

    if not nnpack_ready():
        pytest.skip("this torch has no NNPACK")
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(6, 8, 9, padding=4), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 5, 13, padding=6), torch.nn.Conv2d(5, 4, 1))
    fast = torch.nn.Sequential(*[torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding)
                                 if isinstance(m, torch.nn.Conv2d) else m for m in plain])
    fast.load_state_dict(plain.state_dict())
    assert with_nnpack(fast) == 2 and isinstance(fast[2], NnpackConv2d) and type(fast[3]) is torch.nn.Conv2d
    assert list(fast.state_dict()) == list(plain.state_dict())
    x = torch.randn(3, 6, 24, 20)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [net(xi) for net, xi in zip((plain, fast), xs, strict=True)]
    assert torch.allclose(outs[0], outs[1], atol=1e-4)
    target = torch.randn_like(outs[0])
    for out in outs:
        ((out - target) ** 2).sum().backward()
    assert torch.allclose(xs[0].grad, xs[1].grad, rtol=1e-3, atol=1e-3)
    for p, q in zip(plain.parameters(), fast.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-3 * float(p.grad.abs().max()))


def test_weight_average_is_the_mean_of_the_steps_it_takes_with_batchnorm_measured_afresh():
    from posevid.network.nets import SpatialNetFusion
    from posevid.network.presets import PRESETS
    from posevid.train.averaging import WeightAverage

    net = SpatialNetFusion(PRESETS["tiny"], batchnorm=True)
    average = WeightAverage(net, start=1, every=2)
    for step in range(1, 6):  # the weights of steps 1, 3 and 5 are taken: all 1, 3 and 5
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float(step))
        average.update(net, step)
    assert average.count == 3
    batches = [torch.rand(2, 3, 64, 64) for _ in range(3)]
    mean = average.network(batches)
    assert all(torch.allclose(p, torch.full_like(p, 3.0)) for p in mean.parameters())
    norms = [m for m in mean.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(int(m.num_batches_tracked) == len(batches) for m in norms)
    assert not mean.training


def test_a_run_that_averages_its_weights_exports_the_mean_and_resumes_exactly(tmp_path, figure_set):
    root, _ = figure_set
    over = dict(iterations=6, schedule="constant", average_from=2, average_every=1)
    torch.manual_seed(0)
    straight = train(tiny_config(tmp_path / "a", root / "labels.json", **over), progress=False)
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path / "b", root / "labels.json", **over)
    train(cfg, progress=False, max_steps=3)
    resumed = train(cfg, resume=True, progress=False)
    plain = train(tiny_config(tmp_path / "c", root / "labels.json", iterations=6, schedule="constant"), progress=False)
    a, _, meta_a = weights.load(straight)
    b, _, meta_b = weights.load(resumed)
    c, _, _ = weights.load(plain)
    assert meta_a["average"]["count"] == meta_b["average"]["count"] == 5  # steps 2..6
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(ta, tb, atol=1e-6), name
    assert any(not torch.allclose(ta, tc) for ta, tc in zip(a.state_dict().values(), c.state_dict().values(),
                                                              strict=True))


def test_people_seen_from_behind_are_told_apart_however_the_camera_is_turned():
    from posevid.train.datasets import Sample

    facing = np.array([[50, 20], [40, 40], [60, 40], [35, 60], [65, 60], [35, 80], [65, 80]], np.float32)
    behind = facing[list(FLIP_PERMUTATION)]         # the same picture, sides exchanged
    profile = facing.copy()
    profile[1:3, 0] = [49, 51]                      # shoulders nearly on the head's line
    turn = np.array([[0, -1], [1, 0]], np.float32)  # the camera rolled a quarter turn
    every = np.ones(7, bool)
    for joints in (facing, facing @ turn.T, -facing):
        assert not Sample("v.mp4", 0, joints, every).from_behind()
    for joints in (behind, behind @ turn.T, -behind):   # upright, rolled, upside down
        assert Sample("v.mp4", 0, joints, every).from_behind()
    assert not Sample("v.mp4", 0, profile, every).from_behind()
    no_head = every.copy()
    no_head[0] = False
    assert not Sample("v.mp4", 0, behind, no_head).from_behind()


def test_video_frames_of_people_seen_from_behind_are_drawn_more_often(tmp_path):
    """train.behind_repeat draws a video frame whose labels show the person from behind that many
    times per epoch; frames facing the camera and photos keep their own repeat."""
    from synth import make_video

    from posevid.train.pose import TrainingData

    video = tmp_path / "clip.mp4"
    truth = make_video(video, frames=8, size=(160, 120))
    w = JsonWriter(tmp_path / "clip.json", {"video": {"path": str(video)}})
    for i, j in enumerate(truth):
        # frames 0-3 as the figure is drawn, 4-7 with the sides exchanged: seen from behind
        w.add(frame_record(i, i / 25, j if i < 4 else j[list(FLIP_PERMUTATION)], np.ones(7), 0.5))
    w.close({})
    cfg = tiny_config(tmp_path, tmp_path / "clip.json", behind_repeat=3)
    cfg["data"][0]["repeat"] = 2
    data = TrainingData(cfg, 64, 16)
    assert np.bincount(data.pool, minlength=8).tolist() == [2, 2, 2, 2, 6, 6, 6, 6]
    assert np.bincount(TrainingData({**cfg, "behind_repeat": 1}, 64, 16).pool).tolist() == [2] * 8
