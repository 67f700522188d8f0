from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from rossam_geo.errors import InputError
from rossam_geo.io.atomic import atomic_path, check_writable_folder, write_bytes_atomic, write_text_atomic
from rossam_geo.preview import save_png


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


@pytest.fixture
def umask_027():
    """Run the test under umask 027 (group read, others nothing), restoring the previous umask."""
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_new_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path: Path, umask_027):
    new = tmp_path / "new.txt"
    write_text_atomic(new, "x")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o604)
    write_text_atomic(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_text() == "new"


def test_preview_png_respects_the_umask(tmp_path: Path, umask_027):
    png = tmp_path / "preview.png"
    save_png(np.zeros((4, 4, 3), np.uint8), png)
    assert stat.S_IMODE(png.stat().st_mode) == 0o640


def test_writable_folder_passes_and_creates_nothing(tmp_path: Path):
    check_writable_folder(tmp_path)
    check_writable_folder(tmp_path / "new" / "deeper", option="-o")
    assert list(tmp_path.iterdir()) == []


def test_folder_under_a_file_is_refused(tmp_path: Path):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    with pytest.raises(
        InputError, match=r"^--out-dir: cannot write into .*plain.txt/eval'.* is a file, not a folder$"
    ):
        check_writable_folder(blocker / "eval", option="--out-dir")


def test_read_only_folder_is_refused(tmp_path: Path):
    if os.geteuid() == 0:
        # root ignores permission bits; the kernel still refuses new files in /sys
        folder = Path("/sys")
        if not folder.is_dir() or os.access(folder, os.W_OK) and _can_create_in(folder):
            pytest.skip("no folder refusing root here")
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    try:
        with pytest.raises(
            InputError, match=r"^-o: cannot write into '.*': permission denied; choose another"
        ):
            check_writable_folder(folder, option="-o")
    finally:
        if folder != Path("/sys"):
            folder.chmod(0o700)


def _can_create_in(folder: Path) -> bool:
    try:
        probe = folder / ".rossam-probe-test"
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


def test_write_error_of_the_probe_is_reported_and_the_probe_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def no_space(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(InputError, match=r"^-o: cannot write into .*: the disk is full"):
        check_writable_folder(tmp_path, option="-o")
    assert list(tmp_path.iterdir()) == []
