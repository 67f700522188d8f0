from __future__ import annotations

from pathlib import Path

import pytest

from rossam_geo.io.atomic import atomic_path, write_bytes_atomic, write_text_atomic


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "first")
    write_bytes_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
