"""Atomic writes (posevid/io/atomic.py): a reader sees the old file or the whole new one, never half."""
from __future__ import annotations

import pytest

from posevid.io.atomic import replacing, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    final = tmp_path / "out.txt"
    final.write_text("old")
    with pytest.raises(RuntimeError), replacing(final) as tmp:
        tmp.write_text("half of the ne")
        raise RuntimeError("disk full")
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_finished_write_replaces_the_file_and_keeps_the_suffix_when_asked(tmp_path):
    final = tmp_path / "plot.png"
    with replacing(final, keep_suffix=True) as tmp:
        assert tmp.name == ".plot.part.png" and not final.exists()
        tmp.write_bytes(b"png")
    assert final.read_bytes() == b"png" and not tmp.exists()
    write_text_atomic(tmp_path / "m.jsonl", "a\n")
    write_text_atomic(tmp_path / "m.jsonl", "b\n")
    assert (tmp_path / "m.jsonl").read_text() == "b\n" and len(list(tmp_path.iterdir())) == 2
