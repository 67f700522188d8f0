"""Fixtures for the weights manager: a local HTTP server with Range support and small fake checkpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from rossam_geo.weights import REGISTRY, WEIGHTS_URL_ENV, WeightsEntry
from rossam_geo.weights.cache import LOCKS_DIRNAME

#: a zip local-file header, so the payload starts like a PyTorch checkpoint.
ZIP_MAGIC = b"PK\x03\x04"
PAYLOAD_BYTES = 300_000


@dataclass
class ServedRequest:
    path: str
    range_header: str | None


@dataclass
class FileServer:
    """State shared with the request handler; tests change it between requests.

    Attributes:
        base_url: ``http://127.0.0.1:<port>``.
        files: URL path without the leading slash -> bytes served.
        requests: every GET received, in order.
        ignore_range: answer 200 with the whole file even when a Range is asked for.
        cut_after_bytes: on the next GET only, send this many body bytes and close the connection.
        stall_s: seconds to wait, silent, before closing a connection cut by ``cut_after_bytes``.
        delay_s: seconds to wait before answering every GET.
    """

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[ServedRequest] = field(default_factory=list)
    ignore_range: bool = False
    cut_after_bytes: int | None = None
    stall_s: float = 0.0
    delay_s: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    state: FileServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        state = self.state
        range_header = self.headers.get("Range")
        state.requests.append(ServedRequest(self.path, range_header))
        time.sleep(state.delay_s)
        data = state.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if range_header is not None and not state.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match is not None, f"unexpected Range header {range_header!r}"
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut, state.cut_after_bytes = state.cut_after_bytes, None
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:
            time.sleep(state.stall_s)
        self.close_connection = True


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """A ThreadingHTTPServer on 127.0.0.1 (free port) serving ``FileServer.files``, stopped after the test."""
    state = FileServer()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """Base URL of a local port nobody listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_payload(seed: int, n_bytes: int = PAYLOAD_BYTES) -> bytes:
    """Seeded random bytes that start like a PyTorch (zip) checkpoint."""
    rng = np.random.default_rng(seed)
    return ZIP_MAGIC + rng.integers(0, 256, n_bytes - len(ZIP_MAGIC), dtype=np.uint8).tobytes()


def cache_listing(folder: Path) -> list[str]:
    """Sorted names in a cache folder, without the folder of lock files."""
    return sorted(p.name for p in folder.iterdir() if p.name != LOCKS_DIRNAME)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def payload() -> bytes:
    return make_payload(seed=0)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache folder for the test (not created: the code under test creates it)."""
    return tmp_path / "cache"


@pytest.fixture
def sam_entry(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> WeightsEntry:
    """``sam_vit_b`` re-registered with the fake payload's real size and SHA-256 (published-hash case)."""
    entry = dataclasses.replace(REGISTRY["sam_vit_b"], sha256=sha256_bytes(payload), size_bytes=len(payload))
    monkeypatch.setitem(REGISTRY, "sam_vit_b", entry)
    return entry


@pytest.fixture
def hq_entry() -> WeightsEntry:
    """``sam_hq_vit_b`` as registered: no published hash or size (trust-on-first-use case)."""
    entry = REGISTRY["sam_hq_vit_b"]
    assert entry.sha256 is None and entry.size_bytes is None
    return entry


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch, file_server: FileServer) -> FileServer:
    """The local server set as the weights mirror through ``ROSSAM_GEO_WEIGHTS_URL``."""
    monkeypatch.setenv(WEIGHTS_URL_ENV, file_server.base_url)
    return file_server
