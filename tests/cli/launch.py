"""Run ``rossam-geo`` with a fault of the disk, for the bad-input table: ``python -m tests.cli.launch
[--file-size-limit=BYTES] [--disk-full] -- ARGS...``.

* ``--file-size-limit=BYTES``: the kernel refuses to let any file of the process grow beyond BYTES
  (``RLIMIT_FSIZE``; Python ignores SIGXFSZ, so the write fails with EFBIG). GDAL and SQLite meet it in
  their own writes, as they meet a disk that fills up during a run.
* ``--disk-full``: every ``os.write`` and ``os.fsync`` of a regular file fails with ENOSPC, as on a disk with
  no free space left (the writability probe writes through them).
"""

from __future__ import annotations

import errno
import os
import resource
import runpy
import stat
import sys


def _full(real: object) -> object:
    def refuse(fd: int, *args: object) -> object:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, *args)  # type: ignore[operator]

    return refuse


def apply_faults(file_size_limit: int | None, disk_full: bool) -> None:
    """Make this process's disk faulty (see the module docstring)."""
    if file_size_limit is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    if disk_full:
        os.write = _full(os.write)  # type: ignore[assignment]
        os.fsync = _full(os.fsync)  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    split = argv.index("--")
    limit: int | None = None
    disk_full = False
    for option in argv[:split]:
        if option.startswith("--file-size-limit="):
            limit = int(option.partition("=")[2])
        elif option == "--disk-full":
            disk_full = True
        else:
            raise SystemExit(f"unknown fault {option!r}")
    apply_faults(limit, disk_full)
    sys.argv = ["rossam-geo", *argv[split + 1 :]]
    runpy.run_module("rossam_geo", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
