"""How a row of the bad-input table becomes a process: a fresh ``python -m rossam_geo`` per row, or a child
forked from :mod:`tests.cli.forkserver` (the default; ``ROSSAM_GEO_TEST_FORKSERVER=0`` turns it off).

Both give the row its own process with its own working folder, environment, standard input (bytes), standard
output and error (captured), disk faults and exit status.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Job:
    """One process to run: ``rossam-geo ARGV`` in ``cwd`` with ``env``, fed ``stdin``, with disk faults."""

    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    stdin: bytes = b""
    file_size_limit: int | None = None
    disk_full: bool = False


@dataclass(frozen=True)
class Done:
    """How a job ended."""

    returncode: int
    stdout: str
    stderr: str


def row_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a row: this one, the repository first on ``PYTHONPATH``, and ``extra``."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def run_subprocess(job: Job, timeout_s: float) -> Done:
    """Run ``job`` as ``python -m rossam_geo`` (through :mod:`tests.cli.launch` for disk faults)."""
    if job.file_size_limit is None and not job.disk_full:
        command = [sys.executable, "-m", "rossam_geo", *job.argv]
    else:
        faults = [f"--file-size-limit={job.file_size_limit}"] if job.file_size_limit is not None else []
        faults += ["--disk-full"] if job.disk_full else []
        command = [sys.executable, "-m", "tests.cli.launch", *faults, "--", *job.argv]
    done = subprocess.run(
        command, cwd=job.cwd, env=job.env, input=job.stdin, capture_output=True, timeout=timeout_s
    )
    return Done(done.returncode, _text(done.stdout), _text(done.stderr))


class ForkServer:
    """A running :mod:`tests.cli.forkserver`; :meth:`run` may be called from several threads at once."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.cli.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=row_environment(),
            cwd=REPO_ROOT,
        )
        assert self._process.stdout is not None and self._process.stdin is not None
        self._out: IO[bytes] = self._process.stdout
        self._in: IO[bytes] = self._process.stdin
        ready = self._out.readline()
        if json.loads(ready or b"{}").get("ready") is not True:
            raise RuntimeError("the fork server did not start")
        self._lock = threading.Lock()
        self._next = 0
        self._events: dict[int, threading.Event] = {}
        self._replies: dict[int, dict[str, int]] = {}
        self._files = Path(tempfile.mkdtemp(prefix="rossam-geo-rows-"))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._out:
            reply = json.loads(line)
            self._replies.setdefault(reply["id"], {}).update(reply)
            if "status" in reply:
                self._events[reply["id"]].set()

    def run(self, job: Job, timeout_s: float) -> Done:
        """Run ``job`` in a forked child; kill it after ``timeout_s`` seconds."""
        with self._lock:
            self._next += 1
            job_id = self._next
            self._events[job_id] = threading.Event()
        files = {name: self._files / f"{job_id}.{name}" for name in ("stdin", "stdout", "stderr")}
        files["stdin"].write_bytes(job.stdin)
        message = {
            "id": job_id,
            "argv": list(job.argv),
            "cwd": str(job.cwd),
            "env": job.env,
            "file_size_limit": job.file_size_limit,
            "disk_full": job.disk_full,
            **{name: str(path) for name, path in files.items()},
        }
        with self._lock:
            self._in.write(json.dumps(message).encode() + b"\n")
            self._in.flush()
        if not self._events[job_id].wait(timeout_s):
            pid = self._replies.get(job_id, {}).get("pid")
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            self._events[job_id].wait(10)
            raise TimeoutError(f"rossam-geo {' '.join(job.argv)} ran longer than {timeout_s} s")
        done = Done(
            self._replies[job_id]["status"],
            _text(files["stdout"].read_bytes()),
            _text(files["stderr"].read_bytes()),
        )
        for path in files.values():
            path.unlink(missing_ok=True)
        return done

    def close(self) -> None:
        self._in.close()
        self._process.wait(timeout=60)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
