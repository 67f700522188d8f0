"""Running the worker on the process's own stdin/stdout, keeping the protocol stream clean."""

from __future__ import annotations

import logging
import os
import sys

from rossam_geo.worker.protocol import DEFAULT_MAX_MESSAGE_BYTES


def serve_stdio(
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    log_level: int = logging.INFO,
) -> int:
    """Serve JSON-RPC on this process's stdin/stdout until ``shutdown`` or end of input.

    The real stdout is kept on a private file descriptor for protocol messages; file descriptor 1 and
    ``sys.stdout`` are pointed at stderr, so stray prints (from Python or C libraries) land in the log.
    Logs go to stderr.

    Returns:
        The exit code (0 after ``shutdown`` or end of input).
    """
    from rossam_geo.worker.server import serve

    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(
        level=log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    with os.fdopen(protocol_fd, "wb", buffering=0) as protocol_out:
        return serve(sys.stdin.buffer, protocol_out, max_message_bytes=max_message_bytes)
