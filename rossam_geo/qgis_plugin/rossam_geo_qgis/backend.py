"""The plugin's side of the backend: starts ``rossam-geo serve`` with QProcess and talks JSON-RPC 2.0.

The backend runs in the user's own Python environment (where torch and rossam_geo are installed); QGIS's
Python never imports either. A crashed backend fails the requests in flight with a :class:`BackendError`
and is started again on the next request.

Threads: the QProcess belongs to the thread that created the client (the GUI thread). Requests may be
made from any thread (e.g. a QgsTask): writes are queued to the owner thread, and callers wait on an event.
In the owner thread, :meth:`BackendClient.wait` pumps the process directly, so processing algorithms run
from the Python console do not dead-lock.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from qgis.core import Qgis, QgsMessageLog
from qgis.PyQt.QtCore import QCoreApplication, QObject, QProcess, Qt, QThread, pyqtSignal

from .calls import CANCELLED, JOB_METHODS, BackendError, PendingCall, ProgressCallback

__all__ = ["CANCELLED", "LOG_TAG", "BackendClient", "BackendError", "PendingCall"]

LOG_TAG = "ROS-SAM"


class BackendClient(QObject):
    """JSON-RPC client of one backend process, started on first use.

    Args:
        command: returns (program, arguments) to start the backend; read at every (re)start so that
            changed settings apply.
        parent: Qt parent.

    Signals:
        stateChanged(str, str): new state ("stopped", "starting", "ready", "busy", "crashed", "failed")
            and a one-line detail for the status indicator.
        crashed(str): the backend stopped unexpectedly; the message says so and that it restarts.
    """

    stateChanged = pyqtSignal(str, str)
    crashed = pyqtSignal(str)
    _sendRequested = pyqtSignal(object)
    _killRequested = pyqtSignal(str)

    def __init__(self, command: Callable[[], tuple[str, list[str]]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._command = command
        self._process: QProcess | None = None
        self._buffer = bytearray()
        self._stderr_buffer = bytearray()
        self._pending: dict[int, PendingCall] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = False
        self.state = "stopped"
        self.starts = 0
        #: the backend's ``version`` reply (engines, output schema...), once asked since it started.
        self.info: dict[str, Any] | None = None
        self._sendRequested.connect(self._send_now, Qt.QueuedConnection)
        self._killRequested.connect(self._kill, Qt.QueuedConnection)

    # ------------------------------------------------------------------------------------------ requests
    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        on_progress: ProgressCallback | None = None,
        stop_backend_on_cancel: bool = True,
    ) -> PendingCall:
        """Send a request (from any thread) and return at once (see :class:`PendingCall`)."""
        call = PendingCall(next(self._ids), method, params or {}, on_progress, stop_backend_on_cancel)
        with self._lock:
            self._pending[call.id] = call
        if self._in_owner_thread():
            self._send_now(call)
        else:
            self._sendRequested.emit(call)
        return call

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        timeout_s: float | None = None,
        stop_backend_on_cancel: bool = True,
    ) -> Any:
        """Send a request and wait for its result (from any thread).

        Raises:
            BackendError: the backend answered with an error (``code`` set), could not start or stopped.
        """
        call = self.request(method, params, on_progress, stop_backend_on_cancel)
        return self.wait(call, is_cancelled=is_cancelled, timeout_s=timeout_s)

    def backend_info(self, *, is_cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
        """The backend's ``version`` reply: its engines, the output schema (field -> type) and more.

        Asked once per backend start (from any thread), then kept.
        """
        if self.info is None:
            self.info = dict(self.call("version", is_cancelled=is_cancelled))
        return self.info

    def wait(
        self,
        call: PendingCall,
        *,
        is_cancelled: Callable[[], bool] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Wait for ``call``; when ``is_cancelled()`` turns true, :meth:`abandon` it (fails at once)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not call.done:
            if is_cancelled is not None and is_cancelled():
                self.abandon(call)
                break
            if deadline is not None and time.monotonic() > deadline:
                with self._lock:
                    self._pending.pop(call.id, None)
                raise BackendError(
                    f"the ROS-SAM backend did not answer {call.method!r} within {timeout_s:g} s"
                )
            if self._in_owner_thread():
                process = self._process
                if process is not None and process.state() != QProcess.NotRunning:
                    process.waitForReadyRead(50)
                else:
                    QCoreApplication.processEvents()
                    call.wait_event(0.01)
            else:
                call.wait_event(0.05)
        if call.error is not None:
            raise call.error
        return call.result

    def cancel(self, call: PendingCall) -> None:
        """Ask the backend to cancel ``call`` (its answer then is a ``cancelled`` error)."""
        if not call.done:
            self.request("cancel", {"id": call.id})

    def abandon(self, call: PendingCall) -> None:
        """Cancel ``call`` without waiting for the backend: it fails as cancelled at once.

        The backend is asked to cancel it. A model load cannot be interrupted inside the backend, so when
        ``call`` had not started working yet (no progress: the backend is loading the model for it) and no
        other request waits on the backend's job thread, the backend process is killed (unless the call says
        not to: a refinement request replaced at once by the next one); the next request starts it again.
        """
        if call.done:
            return
        self.cancel(call)
        with self._lock:
            self._pending.pop(call.id, None)
            others = [c for c in self._pending.values() if c.method in JOB_METHODS]
        call.fail(BackendError("cancelled", CANCELLED))
        if call.method in JOB_METHODS and call.stop_backend_on_cancel and not call.progressed and not others:
            detail = "stopped while loading the model for a cancelled request; it starts with the next one"
            if self._in_owner_thread():
                self._kill(detail)
            else:
                self._killRequested.emit(detail)

    # --------------------------------------------------------------------------------------------- process
    def pid(self) -> int | None:
        """Process id of the running backend, or None."""
        process = self._process
        if process is None or process.state() == QProcess.NotRunning:
            return None
        return int(process.processId())

    def stop(
        self, timeout_ms: int = 3000, detail: str = "backend stopped; it starts with the next request"
    ) -> None:
        """Shut the backend down (``shutdown`` request, then kill after ``timeout_ms``; 0: kill at once).

        The state becomes "stopped" with ``detail`` even when no backend runs, so that an earlier "failed"
        or "crashed" state is cleared (e.g. after the settings changed).
        """
        process = self._process
        self._stopping = True
        try:
            if process is not None and process.state() == QProcess.Running:
                if timeout_ms > 0:
                    process.write(b'{"jsonrpc":"2.0","method":"shutdown"}\n')
                    process.closeWriteChannel()
                if timeout_ms <= 0 or not process.waitForFinished(timeout_ms):
                    process.kill()
                    process.waitForFinished(3000)
        finally:
            self._fail_all(BackendError("the ROS-SAM backend was stopped"))
            self._drop_process()
            self._stopping = False
            self._set_state("stopped", detail)

    def _kill(self, detail: str) -> None:
        self.stop(timeout_ms=0, detail=detail)

    def _in_owner_thread(self) -> bool:
        return QThread.currentThread() == self.thread()

    def _send_now(self, call: PendingCall) -> None:
        if call.done:
            return
        if not self._ensure_started():
            return
        message = {"jsonrpc": "2.0", "id": call.id, "method": call.method, "params": call.params}
        data = json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
        if self._process is None or self._process.write(data) != len(data):
            self._fail(
                call, BackendError("could not write to the ROS-SAM backend; it restarts on the next request")
            )
            return
        if call.method in JOB_METHODS:
            self._set_state("busy", "loading the model" if call.method == "load_model" else "segmenting")

    def _ensure_started(self) -> bool:
        if self._process is not None and self._process.state() == QProcess.Running:
            return True
        self._drop_process()
        program, arguments = self._command()
        process = QProcess(self)
        process.setProgram(program)
        process.setArguments(arguments)
        process.readyReadStandardOutput.connect(self._on_stdout)
        process.readyReadStandardError.connect(self._on_stderr)
        process.finished.connect(self._on_finished)
        self._process = process
        self._buffer.clear()
        self._set_state("starting", f"starting {program}")
        process.start()
        if not process.waitForStarted(15000):
            reason = process.errorString()
            self._drop_process()
            message = (
                f"cannot start the ROS-SAM backend {program!r} ({reason}); set the backend program in the "
                "ROS-SAM settings (the rossam-geo executable or a Python with rossam_geo installed)"
            )
            self._fail_all(BackendError(message))
            self._set_state("failed", message)
            return False
        self.starts += 1
        QgsMessageLog.logMessage(f"started backend: {program} {' '.join(arguments)}", LOG_TAG, Qgis.Info)
        self._set_state("ready", f"backend running (pid {process.processId()})")
        return True

    def _drop_process(self) -> None:
        self.info = None
        process, self._process = self._process, None
        if process is not None:
            for signal in (process.readyReadStandardOutput, process.readyReadStandardError, process.finished):
                try:
                    signal.disconnect()
                except TypeError:
                    pass
            if process.state() != QProcess.NotRunning:
                process.kill()
                process.waitForFinished(3000)
            process.deleteLater()

    # --------------------------------------------------------------------------------------------- reading
    def _on_stdout(self) -> None:
        process = self._process
        if process is None:
            return
        self._buffer += bytes(process.readAllStandardOutput())
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if line.strip():
                self._dispatch(line)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line.decode("utf-8"))
        except ValueError:
            QgsMessageLog.logMessage(f"unexpected backend output: {line[:200]!r}", LOG_TAG, Qgis.Warning)
            return
        if not isinstance(message, dict):
            return
        if message.get("method") == "progress":
            params = message.get("params") or {}
            with self._lock:
                call = self._pending.get(params.get("id"))
            if call is not None:
                call.progressed = True
                if call.on_progress is not None:
                    call.on_progress(int(params.get("done", 0)), int(params.get("total", 0)))
            return
        with self._lock:
            call = self._pending.pop(message.get("id"), None)
            jobs_left = any(c.method in JOB_METHODS for c in self._pending.values())
        if call is None:
            if message.get("id") is None and "error" in message:
                QgsMessageLog.logMessage(f"backend error: {message['error']}", LOG_TAG, Qgis.Warning)
        elif "error" in message:
            error = message["error"] or {}
            call.fail(BackendError(str(error.get("message", "unknown backend error")), error.get("code")))
        else:
            call.resolve(message.get("result"))
        if self.state == "busy" and not jobs_left:
            self._set_state("ready", "backend running")

    def _on_stderr(self) -> None:
        process = self._process
        if process is None:
            return
        self._stderr_buffer += bytes(process.readAllStandardError())
        *lines, rest = bytes(self._stderr_buffer).split(b"\n")
        self._stderr_buffer = bytearray(rest)
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                level = Qgis.Warning if ("ERROR" in text or "Traceback" in text) else Qgis.Info
                QgsMessageLog.logMessage(text, LOG_TAG, level)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        if self._stopping:
            return
        self._on_stdout()
        message = (
            f"the ROS-SAM backend stopped unexpectedly (exit code {exit_code}"
            f"{', crashed' if exit_status == QProcess.CrashExit else ''}); it restarts on the next request. "
            "See the ROS-SAM log for details."
        )
        QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Critical)
        self._fail_all(BackendError(message))
        self._drop_process()
        self._set_state("crashed", message)
        self.crashed.emit(message)

    def _fail(self, call: PendingCall, error: BackendError) -> None:
        with self._lock:
            self._pending.pop(call.id, None)
        call.fail(error)

    def _fail_all(self, error: BackendError) -> None:
        with self._lock:
            calls, self._pending = list(self._pending.values()), {}
        for call in calls:
            call.fail(error)

    def _set_state(self, state: str, detail: str) -> None:
        self.state = state
        self.stateChanged.emit(state, detail)
