"""Atomic file output: write beside the destination, then move into place with :func:`os.replace`.

Readers never see a half-written file, and a failed write leaves the previous file (if any) untouched and no
temporary file behind. The file gets the permissions a plain ``open(path, "w")`` would give it: a new file
``0o666 & ~umask``, a replaced file keeps its mode.

:func:`check_writable_folder` probes an output folder before any work, so that a read-only folder or a full
disk is reported at once rather than after a long run.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rossam_geo.errors import InputError

#: bytes written (and synced) by the writability probe: enough to meet a full disk, small enough to be free.
PROBE_BYTES = 4096


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """Permission bits a plain write to ``path`` would leave: the existing file's, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path``, on error it is removed.

    The folder is created when missing. The caller writes the whole file to the yielded path. The result has
    the mode of the file it replaces, or ``0o666 & ~umask`` when new (not the 0o600 of a temporary file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _os_error_reason(exc: OSError) -> str:
    """A short reason and remedy for an error met while writing into a folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full (or the quota is used up); free some space or choose another folder"
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system; choose another folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; choose another folder or fix its permissions"
    return f"{exc.strerror or exc}; choose another folder"


def folder_problem(folder: str | Path) -> str | None:
    """Why files cannot be created in ``folder`` (or in the folders that would hold it), or None when they
    can.

    A probe file of :data:`PROBE_BYTES` bytes is created, synced and deleted in ``folder``, or, when the
    folder does not exist yet, in its nearest existing ancestor (nothing is created). Writing and syncing
    real bytes meets a full disk, which creating an empty file would not.

    Returns:
        None, or a short reason with its remedy ("the disk is full ...; free some space ...").
    """
    folder = Path(folder)
    current = folder
    while not current.exists() and current.parent != current:
        current = current.parent
    if not current.is_dir():
        return f"{str(current)!r} is a file, not a folder"
    probe: str | None = None
    try:
        fd, probe = tempfile.mkstemp(prefix=".rossam-geo-probe.", suffix=".tmp", dir=current)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return _os_error_reason(exc)
    finally:
        if probe is not None:
            Path(probe).unlink(missing_ok=True)
    return None


def check_writable_folder(folder: str | Path, *, option: str = "output folder") -> None:
    """Check, before any work, that files can be created in ``folder`` (see :func:`folder_problem`).

    Args:
        folder: the folder outputs will be written to.
        option: how the user named it (``"-o"``, ``"--out-dir"``...), for the message.

    Raises:
        InputError: a part of the path is a file, the folder is read-only or not permitted, or the disk is
            full; the message is one line naming the option, the folder and the remedy.
    """
    problem = folder_problem(folder)
    if problem is not None:
        raise InputError(f"{option}: cannot write into {str(folder)!r}: {problem}")
