"""The output format's checker rejects what docs/formats.md forbids, and settings are validated
once and cannot change under a run (config.AnnotateSettings)."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from posevid import settings
from posevid.config import section
from posevid.errors import ConfigError
from posevid.io.schema import SchemaError, validate
from posevid.io.writers import FORMAT_NAME, FORMAT_VERSION, frame_record
from posevid.joints import JOINTS

JOINTS_XY = np.array([[100.0 + 10 * j, 50.0 + 5 * j] for j in range(len(JOINTS))])


def document(frames: list[dict]) -> dict:
    video = {"path": "v.mp4", "width": 640, "height": 360, "fps": 25.0, "frame_count": 2, "duration": 0.08,
             "rotation": 0, "has_audio": False}
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "joints": list(JOINTS), "video": video, "model": {},
            "settings": {}, "frames": frames, "cuts": [], "summary": {}}


def good() -> dict:
    conf = np.full(len(JOINTS), 0.9)
    return document([frame_record(0, 0.0, JOINTS_XY, conf, 0.2, [0, 0, 10, 10], "ok", 0),
                     frame_record(0, 0.0, JOINTS_XY, conf, 0.2, [5, 0, 10, 10], "ok", 2),
                     frame_record(1, 0.04, None, None, 0.2, None, "no_person", None)])


def test_a_well_formed_document_passes():
    validate(good())


def _break(doc: dict, how: str) -> dict:
    doc = copy.deepcopy(doc)
    f = doc["frames"]
    if how == "format":
        doc["format"] = "openpose"
    elif how == "index goes back":
        doc["frames"] = [f[2], f[0], f[1]]
    elif how == "same person twice in a frame":
        f[1]["person"] = 0
    elif how == "two records of a frame without ids":
        f[0]["person"] = f[1]["person"] = None
    elif how == "no person field":
        del f[0]["person"]
    elif how == "negative person id":
        f[0]["person"] = -1
    elif how == "visible joint without x":
        f[0]["joints"]["head"]["x"] = None
        f[0]["joints"]["head"]["y"] = None
    elif how == "box of three numbers":
        f[0]["box"] = [1, 2, 3]
    elif how == "missing joint":
        del f[0]["joints"]["left_wrist"]
    elif how == "unknown status":
        f[2]["status"] = "lost"
    return doc


@pytest.mark.parametrize("how", ["format", "index goes back", "same person twice in a frame",
                                 "two records of a frame without ids", "no person field", "negative person id",
                                 "visible joint without x", "box of three numbers", "missing joint", "unknown status"])
def test_the_checker_rejects_what_the_format_forbids(how):
    with pytest.raises(SchemaError):
        validate(_break(good(), how))


def test_settings_are_frozen_and_changed_only_through_a_checked_copy():
    s = settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.threshold = 0.5  # type: ignore[misc]
    t = s.replace(threshold=0.35, box=[1, 2, 30, 40])
    assert t.threshold == 0.35 and t.box == (1.0, 2.0, 30.0, 40.0) and s.threshold != 0.35
    assert t.to_dict()["box"] == [1.0, 2.0, 30.0, 40.0]
    for bad in ({"threshold": 2}, {"flow": "optical"}, {"person": "someone"}, {"box": [1, 2, 3]},
                {"batch_size": 0}, {"nonsense": 1}):
        with pytest.raises(ConfigError):
            s.replace(**bad)


def test_settings_hold_every_default_and_fingerprint_what_changes_results():
    s = settings()
    assert s.to_dict() == section("annotate")  # one home for defaults: defaults.yaml
    assert s.fingerprint() != s.replace(threshold=0.3).fingerprint()
    assert s.fingerprint(("resume_every",)) == s.replace(resume_every=7).fingerprint(("resume_every",))
    assert settings(person=2).person == "2"  # a number from YAML or Python is a --person rule like any other


def test_a_config_extends_another_and_names_only_what_differs(tmp_path):
    """`extends:` (config.load_yaml): a training leg inherits its base's data lists and settings,
    mappings merge key by key, lists and numbers replace, the base's path is relative to the
    extending file, and a loop or a missing base is one ConfigError."""
    data = [{"type": "lsp", "labels": "a.mat", "images": "imgs", "first": 1, "last": 9}]
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "base.yaml").write_text(
        "train:\n  lr: 0.001\n  iterations: 100\n  augment: {spin: 0.2, flip: 0.5}\n"
        f"  data: {data}\n  validation: {data}\n")
    (tmp_path / "leg.yaml").write_text("extends: base/base.yaml\ntrain:\n  lr: 0.0002\n"
                                       "  augment: {spin: 0.25}\n  validation: []\n")
    leg = section("train", tmp_path / "leg.yaml")
    assert leg["lr"] == 0.0002 and leg["iterations"] == 100
    assert leg["data"] == data and leg["validation"] == []
    assert leg["augment"]["spin"] == 0.25 and leg["augment"]["flip"] == 0.5
    assert leg["augment"]["rotate"] == section("train")["augment"]["rotate"]  # defaults under both
    (tmp_path / "loop.yaml").write_text("extends: loop2.yaml\n")
    (tmp_path / "loop2.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        section("train", tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: gone.yaml\n")
    with pytest.raises(ConfigError, match="gone.yaml: no such config file"):
        section("train", tmp_path / "orphan.yaml")
