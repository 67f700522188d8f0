"""The rows of the bad-input table (:mod:`tests.cli.test_bad_input`) and how each is run.

A :class:`Case` is one command line of the real CLI; a :class:`WorkerCase` one request line sent to a real
``rossam-geo serve`` process, followed by a ``ping`` that the worker must still answer. Each row runs as a
process of its own in its own folder, where the files its command names are built first
(:mod:`tests.cli.bad_inputs`); :func:`run_rows` runs many rows at once on a pool of threads, one process
each (:mod:`tests.cli.row_process`), and returns an :class:`Outcome` per row for the row's own test to check.

Two rows simulate a full disk (:mod:`tests.cli.launch`): ``file_size_limit`` caps the size of every
file the process writes (the kernel then fails GDAL's and SQLite's writes, as a full disk does, with EFBIG
instead of ENOSPC), and ``disk_full`` makes every ``os.write`` to a file fail with ENOSPC (what the
writability probe meets on a full disk).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cli.bad_inputs import Workspace
from tests.cli.row_process import ForkServer, Job, row_environment, run_subprocess
from tests.geo.fakes import sql_content

#: an error is reported in this many non-empty lines at most (click's usage errors take three).
MAX_LINES = 3
#: seconds a row may take.
TIMEOUT_S = 150
#: rows run at once (subprocesses); ``ROSSAM_GEO_TEST_JOBS`` overrides it.
DEFAULT_JOBS = max(2, min(4, (os.cpu_count() or 2) + 1))


@dataclass(frozen=True)
class Case:
    """One command line and what it must do.

    Attributes:
        name: the row's test id.
        argv: arguments after ``rossam-geo``; tokens naming a registered file are built first.
        exit_code: the expected exit status.
        message: a regular expression that must occur in stdout + stderr.
        creates: files the run may create (relative to the row's folder); for successes, those it must.
        max_lines: most non-empty output lines (None: not checked, for runs that print a summary).
        given: files built before the run besides those ``argv`` names (existing outputs).
        changes: existing files the run is expected to change (a resumed output).
        same_content: existing GeoPackages compared by their SQL content rather than their bytes (a failed
            write may leave SQLite's change counter moved, never a row).
        check: extra assertions on the row's folder after the run.
        env: extra environment variables.
        file_size_limit: largest file the process may write, in bytes (RLIMIT_FSIZE), or the name of a file
            of the row whose size is the limit.
        disk_full: every ``os.write`` and ``os.fsync`` of a file fails with ENOSPC.
    """

    name: str
    argv: tuple[str, ...]
    exit_code: int
    message: str
    creates: tuple[str, ...] = ()
    max_lines: int | None = MAX_LINES
    given: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    same_content: tuple[str, ...] = ()
    check: Callable[[Path], None] | None = None
    env: tuple[tuple[str, str], ...] = ()
    file_size_limit: int | str | None = None
    disk_full: bool = False

    def named_files(self) -> list[str]:
        return [*self.argv, *self.given]

    def job(self, root: Path) -> Job:
        limit = self.file_size_limit
        if isinstance(limit, str):
            limit = (root / limit).stat().st_size
        return Job(self.argv, root, row_environment(dict(self.env)), b"", limit, self.disk_full)


@dataclass(frozen=True)
class WorkerCase:
    """One request line sent to ``rossam-geo serve``, then ``ping``, then the end of input.

    Attributes:
        name: the row's test id.
        request: the line: a JSON-RPC request (``id`` 1; string values naming registered files are built
            first), or raw bytes.
        code: the expected JSON-RPC error code, or None when the request must succeed.
        message: a regular expression the error message must match (or, for successes, the result's JSON).
        check: extra assertions on the response.
        given: files built before the run.
        response_id: the id of the response to check (None: errors about a line that has no id).
        ping_after: send ``ping`` after the request (otherwise the request holds it, or the input ends
            inside a line).
    """

    name: str
    request: dict[str, Any] | bytes
    code: int | None
    message: str
    check: Callable[[dict[str, Any]], None] | None = None
    given: tuple[str, ...] = ()
    response_id: int | None = 1
    ping_after: bool = True

    def named_files(self) -> list[str]:
        values: list[str] = [*self.given]
        if isinstance(self.request, dict):
            values += [v for v in _strings(self.request.get("params"))]
        return values

    def job(self, root: Path) -> Job:
        return Job(("serve", "-q"), root, row_environment(), self.stdin())

    def stdin(self) -> bytes:
        line = self.request if isinstance(self.request, bytes) else json.dumps(self.request).encode() + b"\n"
        return line + PING if self.ping_after else line


Row = Case | WorkerCase
#: the request every worker row ends with; the worker must answer it "pong".
PING = b'{"jsonrpc": "2.0", "method": "ping", "id": "ping"}\n'


@dataclass
class Outcome:
    """What running a row gave: its status, output, and the files of its folder before and after."""

    root: Path
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str] = field(default_factory=dict)
    contents: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def responses(self) -> dict[Any, dict[str, Any]]:
        """Worker rows: responses by id (notifications left out)."""
        found: dict[Any, dict[str, Any]] = {}
        for line in self.stdout.splitlines():
            message = json.loads(line)
            if "id" in message:
                found[message["id"]] = message
        return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def prepare(row: Row, root: Path) -> dict[str, str]:
    """Build the row's files in ``root``; return their hashes."""
    workspace = Workspace(root)
    workspace.build_named_in(row.named_files())
    return workspace.hashes()


def run_row(row: Row, root: Path, before: dict[str, str], server: ForkServer | None = None) -> Outcome:
    """Run one prepared row as a process in ``root`` (a child of ``server``, or a fresh interpreter)."""
    same_content = row.same_content if isinstance(row, Case) else ()
    contents = {name: sql_content(root / name) for name in same_content}
    job = row.job(root)
    started = time.perf_counter()
    done = server.run(job, TIMEOUT_S) if server is not None else run_subprocess(job, TIMEOUT_S)
    outcome = Outcome(root, done.returncode, done.stdout, done.stderr, before)
    outcome.seconds = time.perf_counter() - started
    outcome.after = Workspace(root).hashes()
    outcome.contents = {
        name: (text, sql_content(root / name) if (root / name).is_file() else "")
        for name, text in contents.items()
    }
    return outcome


def run_rows(rows: list[tuple[Row, Path]], jobs: int | None = None) -> dict[str, Outcome | BaseException]:
    """Prepare every row (here, one after the other), then run them ``jobs`` at a time.

    Returns:
        Row name -> its :class:`Outcome`, or the exception that kept it from running.
    """
    jobs = jobs or int(os.environ.get("ROSSAM_GEO_TEST_JOBS", DEFAULT_JOBS))
    prepared: dict[str, tuple[Row, Path, dict[str, str]]] = {}
    results: dict[str, Outcome | BaseException] = {}
    for row, root in rows:
        try:
            prepared[row.name] = (row, root, prepare(row, root))
        except Exception as exc:  # noqa: BLE001 - reported by the row's own test
            results[row.name] = exc
    # The slowest rows (those loading a model) start first, so that the pool ends together.
    order = sorted(prepared, key=lambda name: not _loads_torch(prepared[name][0]))
    server = ForkServer() if os.environ.get("ROSSAM_GEO_TEST_FORKSERVER", "1") != "0" else None
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {name: pool.submit(run_row, *prepared[name], server) for name in order}
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                except Exception as exc:  # noqa: BLE001 - reported by the row's own test
                    results[name] = exc
    finally:
        if server is not None:
            server.close()
    return results


def _loads_torch(row: Row) -> bool:
    if not isinstance(row, Case):
        return False
    argv = " ".join(row.argv)
    return row.argv[0] == "train" or ".safetensors" in argv or ".pth" in argv or "--weights" in argv
