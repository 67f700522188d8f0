"""Bookkeeping of JSON-RPC requests to the backend: outcomes, errors and the methods that run as jobs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: JSON-RPC error code of a cancelled request (see docs/qgis.md).
CANCELLED = -32003
#: Methods the backend runs on its job thread, one at a time (they may load a model first).
JOB_METHODS = frozenset({"load_model", "segment"})

ProgressCallback = Callable[[int, int], None]


class BackendError(Exception):
    """A request failed: the backend answered with an error, could not start, or stopped.

    Attributes:
        message: text for the message bar.
        code: the JSON-RPC error code, or None when the backend did not answer.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def cancelled(self) -> bool:
        """True when the request was cancelled."""
        return self.code == CANCELLED


class PendingCall:
    """A request sent to the backend and its eventual outcome (filled in by the owner thread)."""

    def __init__(
        self,
        request_id: int,
        method: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
        stop_backend_on_cancel: bool = True,
    ) -> None:
        self.id = request_id
        self.method = method
        self.params = params
        self.on_progress = on_progress
        #: cancelling it while the backend loads the model for it stops the backend (see
        #: ``BackendClient.abandon``); False for requests replaced at once by the next one.
        self.stop_backend_on_cancel = stop_backend_on_cancel
        #: a progress notification arrived: the model is loaded and the request is being worked on.
        self.progressed = False
        self.result: Any = None
        self.error: BackendError | None = None
        self._event = threading.Event()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def resolve(self, result: Any) -> None:
        self.result = result
        self._event.set()

    def fail(self, error: BackendError) -> None:
        self.error = error
        self._event.set()

    def wait_event(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)
