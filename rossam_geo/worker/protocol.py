"""JSON-RPC 2.0 framing for the backend worker: one UTF-8 JSON message per line over a byte stream.

Error codes (the ``code`` member of every error response):

=========  ===========================================================================
code       meaning
=========  ===========================================================================
-32700     parse error: the line is not valid UTF-8 JSON (response ``id`` is null)
-32600     invalid request: not a JSON-RPC 2.0 request object, message too long, id in use
-32601     method not found
-32602     invalid params: a parameter is missing or has the wrong type, an option a bad value
-32000     internal error in the backend (the traceback goes to stderr)
-32001     input error: missing or unreadable raster, unknown CRS of the boxes
-32002     weights error: weights unknown, missing or not matching the model
-32003     cancelled: the request was cancelled by a ``cancel`` request or by shutdown
-32004     engine error: unknown engine or the engine failed
=========  ===========================================================================
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from typing import IO, Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32000
INPUT_ERROR = -32001
WEIGHTS_ERROR = -32002
CANCELLED = -32003
ENGINE_ERROR = -32004

#: Default upper bound of one message (one line), in bytes.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

RequestId = str | int | float | None


class RpcError(Exception):
    """An error to send back as a JSON-RPC error object.

    Attributes:
        code: JSON-RPC error code (see the module table).
        message: one-line description naming the offending value and the remedy.
        data: optional JSON-serialisable detail (e.g. ``{"type": "RasterError"}``).
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The ``error`` member of a response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class MessageTooLong(Exception):
    """A line exceeded the maximum message size; its bytes were discarded."""


@dataclass(frozen=True)
class Request:
    """A parsed JSON-RPC request.

    Attributes:
        method: method name.
        params: named parameters (positional arrays are rejected by the methods that need names).
        id: request id; ``None`` with ``is_notification`` for notifications.
        is_notification: True when the message had no ``id`` member (no response is sent).
    """

    method: str
    params: dict[str, Any] | list[Any]
    id: RequestId
    is_notification: bool


class LineReader:
    """Reads newline-terminated messages from a binary stream, never buffering more than ``max_bytes``.

    Args:
        stream: binary stream with ``readline(limit)`` (e.g. ``sys.stdin.buffer``).
        max_bytes: largest accepted message, newline excluded.
    """

    def __init__(self, stream: IO[bytes], max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._stream = stream
        self._max_bytes = max_bytes

    def read_message(self) -> bytes | None:
        """Return the next non-empty line without its line ending, or None at end of stream.

        Raises:
            MessageTooLong: the line was longer than ``max_bytes``; it has been consumed and dropped.
        """
        while True:
            line = self._stream.readline(self._max_bytes + 1)
            if not line:
                return None
            if not line.endswith(b"\n") and len(line) > self._max_bytes:
                self._discard_rest_of_line()
                raise MessageTooLong(f"message longer than {self._max_bytes} bytes")
            line = line.rstrip(b"\r\n")
            if len(line) > self._max_bytes:
                raise MessageTooLong(f"message longer than {self._max_bytes} bytes")
            if line.strip():
                return line

    def _discard_rest_of_line(self) -> None:
        chunk_limit = min(self._max_bytes, 1 << 20) or 1
        while True:
            chunk = self._stream.readline(chunk_limit)
            if not chunk or chunk.endswith(b"\n"):
                return


class MessageWriter:
    """Writes one JSON message per line to a binary stream; safe to call from several threads."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Serialise ``message`` (NaN and infinities become null) and write it followed by a newline."""
        data = json.dumps(_json_safe(message), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        with self._lock:
            self._stream.write(data.encode("utf-8") + b"\n")
            self._stream.flush()

    def result(self, request_id: RequestId, result: Any) -> None:
        """Send a success response."""
        self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def error(self, request_id: RequestId, error: RpcError) -> None:
        """Send an error response."""
        self.send({"jsonrpc": "2.0", "id": request_id, "error": error.to_json()})

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification (no id, no response expected)."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


def parse_request(line: bytes) -> Request:
    """Decode one line into a :class:`Request`.

    Raises:
        RpcError: ``PARSE_ERROR`` for invalid UTF-8 or JSON, ``INVALID_REQUEST`` for anything that is not a
            JSON-RPC 2.0 request object (batches included: send one request per line).
    """
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RpcError(PARSE_ERROR, f"parse error: not valid UTF-8 JSON ({exc})") from None
    if isinstance(message, list):
        raise RpcError(
            INVALID_REQUEST, "invalid request: batches are not supported; send one request per line"
        )
    if not isinstance(message, dict):
        raise RpcError(
            INVALID_REQUEST, f"invalid request: expected a JSON object, got {type(message).__name__}"
        )
    if message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'invalid request: the "jsonrpc" member must be "2.0"')
    method = message.get("method")
    if not isinstance(method, str):
        raise RpcError(INVALID_REQUEST, 'invalid request: the "method" member must be a string')
    is_notification = "id" not in message
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | float | type(None)):
        raise RpcError(INVALID_REQUEST, 'invalid request: "id" must be a string, a number or null')
    params = message.get("params", {})
    if not isinstance(params, dict | list):
        raise RpcError(INVALID_REQUEST, 'invalid request: "params" must be an object or an array')
    return Request(method=method, params=params, id=request_id, is_notification=is_notification)


def request_id_of(line: bytes) -> RequestId:
    """Best-effort id of a message that failed validation, so the error can still be matched to it."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(message, dict):
        request_id = message.get("id")
        if isinstance(request_id, str | int) and not isinstance(request_id, bool):
            return request_id
    return None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
