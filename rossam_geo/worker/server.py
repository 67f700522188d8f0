"""The backend's request loop: reads requests on one thread, runs model work on another.

``ping``, ``version``, ``environment``, ``raster_info``, ``cancel`` and ``shutdown`` are answered by the
reader thread at once; ``load_model`` and ``segment`` are queued on a single job thread (one model, one
request at a time), so the reader stays responsive and ``cancel`` reaches a running request.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from rossam_geo import __version__
from rossam_geo.worker import params as P
from rossam_geo.worker.prompt_params import get_clicks, get_prompt_ids
from rossam_geo.worker.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    LineReader,
    MessageTooLong,
    MessageWriter,
    Request,
    RequestId,
    RpcError,
    parse_request,
    request_id_of,
)
from rossam_geo.worker.session import (
    Cancelled,
    ModelCache,
    ModelKey,
    parse_crs,
    parse_options,
    raster_info,
    rpc_error_from,
    run_segment,
    to_feature_collection,
)

log = logging.getLogger("rossam_geo.worker")

#: Version of the method contract; raised when a method changes incompatibly.
PROTOCOL_VERSION = 1
#: The optional per-box members of ``segment`` (see :mod:`rossam_geo.worker.prompt_params`).
CLICKS = ("prompt_ids", "points", "point_labels")
#: Engine used by ``segment`` when neither the request nor an earlier ``load_model`` named one.
DEFAULT_ENGINE = "rossam"


@dataclass
class _Job:
    request_id: RequestId
    method: str
    cancel_event: threading.Event = field(default_factory=threading.Event)


class Worker:
    """A JSON-RPC 2.0 backend over a pair of byte streams.

    Args:
        stdin: binary stream of requests, one JSON object per line.
        stdout: binary stream for responses and ``progress`` notifications; nothing else is written there.
        max_message_bytes: longest accepted request line.
        segmenter_factory: builds a segmenter from (engine=, weights=, device=); default
            ``rossam_geo.Segmenter``.
    """

    def __init__(
        self,
        stdin: IO[bytes],
        stdout: IO[bytes],
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        segmenter_factory: Callable[..., Any] | None = None,
    ) -> None:
        self._reader = LineReader(stdin, max_message_bytes)
        self._out = MessageWriter(stdout)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rossam-job")
        self._jobs: dict[RequestId, _Job] = {}
        self._jobs_lock = threading.Lock()
        self._models = ModelCache(segmenter_factory)
        self._default = ModelKey(DEFAULT_ENGINE, None, "auto")
        self._stopping = False
        self._inline: dict[str, Callable[[dict[str, Any] | list[Any]], Any]] = {
            "ping": self._ping,
            "version": self._version,
            "environment": self._environment,
            "raster_info": self._raster_info,
            "cancel": self._cancel,
        }
        self._queued: dict[str, Callable[[dict[str, Any] | list[Any], _Job], Any]] = {
            "load_model": self._load_model,
            "segment": self._segment,
        }

    # ------------------------------------------------------------------------------------------------ loop
    def serve_forever(self) -> int:
        """Answer requests until ``shutdown`` or end of input; returns the process exit code (0)."""
        log.info("rossam-geo worker %s ready (protocol %d)", __version__, PROTOCOL_VERSION)
        try:
            while not self._stopping:
                try:
                    line = self._reader.read_message()
                except MessageTooLong as exc:
                    self._out.error(
                        None, RpcError(INVALID_REQUEST, f"invalid request: {exc}; message dropped")
                    )
                    continue
                if line is None:
                    log.info("end of input; stopping")
                    break
                self._handle_line(line)
        finally:
            # shutdown cancels what is still running; end of input lets queued requests finish first.
            self._stop_jobs(cancel=self._stopping)
        return 0

    def _handle_line(self, line: bytes) -> None:
        try:
            request = parse_request(line)
        except RpcError as exc:
            self._out.error(request_id_of(line), exc)
            return
        if request.method == "shutdown":
            self._stopping = True
            self._stop_jobs(cancel=True)
            if not request.is_notification:
                self._out.result(request.id, None)
            return
        try:
            if request.method in self._inline:
                result = self._inline[request.method](request.params)
                if not request.is_notification:
                    self._out.result(request.id, result)
            elif request.method in self._queued:
                self._submit(request)
            else:
                known = ", ".join(sorted([*self._inline, *self._queued, "shutdown"]))
                raise RpcError(METHOD_NOT_FOUND, f"method {request.method!r} not found; methods: {known}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error response
            error = rpc_error_from(exc)
            if error.code == -32000:
                log.exception("request %r (%s) failed", request.id, request.method)
            if not request.is_notification:
                self._out.error(request.id, error)

    def _submit(self, request: Request) -> None:
        job = _Job(request.id, request.method)
        if not request.is_notification:
            with self._jobs_lock:
                if request.id in self._jobs:
                    raise RpcError(
                        INVALID_REQUEST, f"request id {request.id!r} is already in use by a running request"
                    )
                self._jobs[request.id] = job
        self._executor.submit(self._run_job, request, job)

    def _run_job(self, request: Request, job: _Job) -> None:
        try:
            if job.cancel_event.is_set():
                raise Cancelled(f"request {request.id!r} cancelled before it started")
            result = self._queued[request.method](request.params, job)
            if not request.is_notification:
                self._out.result(request.id, result)
        except Exception as exc:  # noqa: BLE001 - reported to the client, the worker keeps running
            error = rpc_error_from(exc)
            if error.code == -32000:
                log.exception("request %r (%s) failed", request.id, request.method)
            else:
                log.info("request %r (%s): %s", request.id, request.method, error.message)
            if not request.is_notification:
                self._out.error(request.id, error)
        finally:
            with self._jobs_lock:
                if self._jobs.get(request.id) is job:
                    del self._jobs[request.id]

    def _stop_jobs(self, *, cancel: bool) -> None:
        if cancel:
            with self._jobs_lock:
                for job in self._jobs.values():
                    job.cancel_event.set()
        self._executor.shutdown(wait=True)

    # --------------------------------------------------------------------------------------------- methods
    def _ping(self, params: dict[str, Any] | list[Any]) -> str:
        P.named(params, "ping", set())
        return "pong"

    def _version(self, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
        P.named(params, "version", set())
        from rossam_geo.engines import engine_names, weight_free_engines
        from rossam_geo.segmentation import OUTPUT_SCHEMA, STATUSES, SegmentOptions

        loaded = self._models.current
        return {
            "rossam_geo": __version__,
            "protocol": PROTOCOL_VERSION,
            "python": platform.python_version(),
            "engines": engine_names(),
            "weight_free_engines": list(weight_free_engines()),
            "output_schema": dict(OUTPUT_SCHEMA),
            "statuses": list(STATUSES),
            "options": SegmentOptions().to_dict(),
            "loaded": None
            if loaded is None
            else {"engine": loaded.engine, "weights": loaded.weights, "device": loaded.device},
        }

    def _environment(self, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
        P.named(params, "environment", set())
        from rossam_geo.worker.environment import describe_environment

        return describe_environment()

    def _raster_info(self, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
        named = P.named(params, "raster_info", {"raster"})
        return raster_info(P.require_str(named, "raster"))

    def _cancel(self, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
        named = P.named(params, "cancel", {"id"})
        target = P.get_request_id(named)
        with self._jobs_lock:
            job = self._jobs.get(target)
            if job is not None:
                job.cancel_event.set()
        return {"id": target, "cancelled": job is not None}

    def _model_key(self, named: dict[str, Any]) -> ModelKey:
        engine = P.get_str(named, "engine")
        weights = P.get_str(named, "weights")
        device = P.get_str(named, "device")
        if engine is None:
            return ModelKey(
                self._default.engine, weights or self._default.weights, device or self._default.device
            )
        return ModelKey(engine, weights, device or "auto")

    def _load_model(self, params: dict[str, Any] | list[Any], job: _Job) -> dict[str, Any]:
        named = P.named(params, "load_model", {"engine", "weights", "device"})
        key = self._model_key(named)
        segmenter, reused = self._models.get(key)
        self._default = key
        return {
            "engine": key.engine,
            "weights": key.weights,
            "device": key.device,
            "model": getattr(getattr(segmenter, "engine", None), "model_name", key.engine),
            "reused": reused,
        }

    def _segment(self, params: dict[str, Any] | list[Any], job: _Job) -> dict[str, Any]:
        named = P.named(
            params, "segment", {"raster", "boxes", "crs", "engine", "weights", "device", "options", *CLICKS}
        )
        raster = P.require_str(named, "raster")
        boxes = P.get_boxes(named)
        prompt_ids, clicks = get_prompt_ids(named, len(boxes)), get_clicks(named, len(boxes))
        crs = parse_crs(P.get_str(named, "crs"))
        options = parse_options(P.get_object(named, "options"))
        key = self._model_key(named)
        segmenter, _ = self._models.get(key)

        def report(done: int, total: int) -> None:
            if not job.cancel_event.is_set() and job.request_id is not None:
                self._out.notify("progress", {"id": job.request_id, "done": done, "total": total})

        gdf = run_segment(
            segmenter.engine, raster, boxes, crs, options, on_progress=report, cancel_event=job.cancel_event,
            prompt_ids=prompt_ids, clicks=clicks,
        )  # fmt: skip
        return to_feature_collection(gdf)


def serve(stdin: IO[bytes], stdout: IO[bytes], *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> int:
    """Run a :class:`Worker` on the given streams until ``shutdown`` or end of input; return the exit code."""
    return Worker(stdin, stdout, max_message_bytes=max_message_bytes).serve_forever()
