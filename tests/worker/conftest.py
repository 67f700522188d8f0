"""Fixtures: a real ``rossam-geo serve`` process and a small line-based JSON-RPC client for it."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The console script installed beside the interpreter running the tests.
ROSSAM_GEO = Path(sys.executable).with_name("rossam-geo")


class WorkerProcess:
    """Drives a spawned worker: writes requests, collects responses and notifications from a reader thread."""

    def __init__(self, *args: str) -> None:
        command = (
            [str(ROSSAM_GEO), "serve", *args]
            if ROSSAM_GEO.exists()
            else [sys.executable, "-m", "rossam_geo.worker", *args]
        )
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.non_json_lines: list[bytes] = []
        self.notifications: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self._next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                self.non_json_lines.append(line)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, method: str, params: Any = None, request_id: Any = "auto") -> Any:
        """Send a request; returns its id."""
        if request_id == "auto":
            self._next_id += 1
            request_id = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        self.send_raw(json.dumps(message).encode() + b"\n")
        return request_id

    def receive(self, timeout: float = 60.0) -> dict[str, Any]:
        """Next response (notifications are stored in ``notifications`` and skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if "method" in message and "id" not in message:
                self.notifications.append(message)
                continue
            return message

    def call(self, method: str, params: Any = None, timeout: float = 60.0) -> dict[str, Any]:
        request_id = self.send(method, params)
        response = self.receive(timeout)
        assert response.get("id") == request_id, response
        return response

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.send("shutdown")
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def worker() -> Iterator[WorkerProcess]:
    """A running worker (progress every box) that is shut down after the test."""
    process = WorkerProcess()
    yield process
    process.close()
    assert process.non_json_lines == [], "only JSON-RPC messages may appear on the worker's stdout"


@pytest.fixture(scope="session")
def utm_raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 x 30 px uint8 RGB GeoTIFF in UTM 33N, 0.5 m pixels, upper-left corner (500000 E, 5000000 N)."""
    from tests.geo.fakes import make_geotiff

    return make_geotiff(tmp_path_factory.mktemp("worker") / "utm.tif")


@pytest.fixture(scope="session")
def big_utm_raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 x 240 px uint8 RGB GeoTIFF in UTM 33N (same origin and 0.5 m pixels)."""
    from tests.geo.fakes import make_geotiff

    return make_geotiff(tmp_path_factory.mktemp("worker") / "big.tif", width=240, height=240)


@pytest.fixture(scope="session")
def png_frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 x 30 px plain PNG (no georeferencing)."""
    from tests.geo.fakes import make_png

    return make_png(tmp_path_factory.mktemp("worker") / "frame.png")
