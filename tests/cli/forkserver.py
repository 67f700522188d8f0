"""A fork server for the bad-input table: one process imports the libraries of ``rossam-geo`` once, then
forks a child per row, which runs the command line exactly as ``python -m rossam_geo ARGS`` does.

Importing numpy, pandas, GeoPandas, GDAL's bindings and pyproj takes about 0.6 s of CPU, most of a row that
fails at once; a forked child starts with them loaded. Each child is its own process, with the row's working
folder, environment, standard streams (files), resource limits and exit status, and it runs the package's
``__main__`` module (:func:`runpy.run_module`), so that everything from the command line's entry point on is
the real thing. ``ROSSAM_GEO_TEST_FORKSERVER=0`` runs every row as a fresh ``python -m rossam_geo`` instead.

Protocol (one JSON object per line): the parent writes jobs ``{"id", "argv", "cwd", "env", "stdin",
"stdout", "stderr", "file_size_limit", "disk_full"}``; the server answers ``{"id", "status"}`` once the
child has ended (``status`` as :func:`os.waitstatus_to_exitcode` gives it). The server is single-threaded:
it forks only from its one thread, and waits for stdin and for its children with ``select``.
"""

from __future__ import annotations

import json
import os
import runpy
import select
import sys
from typing import Any

#: libraries the command line imports on its way to most errors; loaded once, before any fork.
PRELOAD = (
    "rossam_geo.cli",
    "rossam_geo.cli.segment",
    "rossam_geo.cli.tracks",
    "rossam_geo.cli.evaluate",
    "rossam_geo.cli.weights",
    "rossam_geo.cli.serve",
    "rossam_geo.cli.errors",
    "rossam_geo.segmentation",
    "rossam_geo.segmentation.scene_file",
    "rossam_geo.io",
    "rossam_geo.api",
    "rossam_geo.worker.server",
    "geopandas",
    "pyogrio",
    "rasterio",
    "rich.console",
    "rich.progress",
)


def _child(job: dict[str, Any]) -> None:
    """In the forked child: become the row's process and run the command line; never returns."""
    from tests.cli.launch import apply_faults

    code: object = 1
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        writing = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        for fd, name, flags in ((0, "stdin", os.O_RDONLY), (1, "stdout", writing), (2, "stderr", writing)):
            os.dup2(os.open(job[name], flags, 0o644), fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own streams
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        apply_faults(job.get("file_size_limit"), bool(job.get("disk_full")))
        sys.argv = ["rossam-geo", *job["argv"]]
        try:
            runpy.run_module("rossam_geo", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code
    except BaseException:  # noqa: BLE001 - as the interpreter does: the traceback, then status 1
        import traceback

        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    os._exit(code)


def serve() -> None:
    """Read jobs on stdin, fork a child for each, report each child's status on stdout."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    print(json.dumps({"ready": True}), flush=True)
    running: dict[int, Any] = {}
    pending = b""
    open_input = True
    while open_input or running:
        readable, _, _ = select.select([0] if open_input else [], [], [], 0.02)
        if readable:
            chunk = os.read(0, 1 << 16)
            open_input = bool(chunk)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                job = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(job)
                running[pid] = job["id"]
                print(json.dumps({"id": job["id"], "pid": pid}), flush=True)
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            job_id = running.pop(pid)
            print(json.dumps({"id": job_id, "status": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
