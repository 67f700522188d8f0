"""Segment requests as QgsTasks: the backend works while QGIS stays responsive; progress and cancel work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer, QgsTask

from .backend import BackendClient, BackendError
from .geojson import qgis_box_to_pixel_box

#: JSON-RPC error code of an unknown method (a backend older than the request).
METHOD_NOT_FOUND = -32601


@dataclass
class SegmentRequest:
    """What to segment.

    Attributes:
        raster_path: path of the raster file (GDAL-readable).
        boxes_xyxy: boxes (xmin, ymin, xmax, ymax) in ``boxes_crs``.
        boxes_crs: CRS of the boxes (the canvas CRS for drawn boxes).
        boxes_in_layer_xyxy: the same boxes in the raster layer's QGIS coordinates, used when the raster is a
            plain image (no georeferencing): QGIS shows those with y up, the backend works in pixels, y down.
        model: ``engine``/``weights``/``device`` request members.
        options: ``options`` request member (crop_size...).
        clicks: per box, its refinement clicks ``(x, y, label)`` in ``boxes_crs`` (label 1 on the object, 0
            off it); None: no clicks.
        clicks_in_layer: the same clicks in the raster layer's QGIS coordinates (for plain images).
        prompt_ids: the ``prompt_ids`` request member (None: the backend numbers the boxes).
        stop_backend_on_cancel: cancelling while the backend loads the model stops it (nothing else waits
            for that model); False for refinement requests, which the next click replaces at once.
    """

    raster_path: str
    boxes_xyxy: list[Any]
    boxes_crs: QgsCoordinateReferenceSystem
    boxes_in_layer_xyxy: list[Any]
    model: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    clicks: list[list[tuple[float, float, int]]] | None = None
    clicks_in_layer: list[list[tuple[float, float, int]]] | None = None
    prompt_ids: list[Any] | None = None
    stop_backend_on_cancel: bool = True


def raster_path(layer: QgsRasterLayer) -> str:
    """File path of a GDAL raster layer (its source without GDAL open options)."""
    from qgis.core import QgsProviderRegistry

    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    return str(parts.get("path") or layer.source())


def crs_text(crs: QgsCoordinateReferenceSystem) -> str | None:
    """What the backend gets as ``crs``: the authority id when QGIS knows one, else WKT2."""
    if not crs.isValid():
        return None
    if crs.authid():
        return crs.authid()
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED)


@dataclass
class SegmentReply:
    """The backend's answer to a :class:`SegmentRequest`.

    Attributes:
        collection: the result FeatureCollection.
        pixel_frame: the raster is a plain image: result coordinates are pixels with y down.
        backend: the backend's ``version`` reply (its ``output_schema`` gives the fields of a new layer).
    """

    collection: dict[str, Any]
    pixel_frame: bool
    backend: dict[str, Any]

    @property
    def schema(self) -> dict[str, str]:
        """The output fields and their types (``integer``, ``real``, ``string``)."""
        return dict(self.backend.get("output_schema") or {})


def run_segment_request(
    client: BackendClient,
    request: SegmentRequest,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> SegmentReply:
    """Ask the backend for its version (once per start), raster info, then the segmentation (blocking; any
    thread)."""
    backend = client.backend_info(is_cancelled=is_cancelled)
    info = client.call("raster_info", {"raster": request.raster_path}, is_cancelled=is_cancelled)
    pixel_frame = not info.get("georeferenced", False)
    params: dict[str, Any] = {"raster": request.raster_path, **request.model}
    if request.options:
        params["options"] = dict(request.options)
    if pixel_frame:
        params["boxes"] = [qgis_box_to_pixel_box(b) for b in request.boxes_in_layer_xyxy]
        clicks = [[(x, -y, label) for x, y, label in box] for box in request.clicks_in_layer or []]
    else:
        params["boxes"] = [list(map(float, b)) for b in request.boxes_xyxy]
        clicks = request.clicks or []
        text = crs_text(request.boxes_crs)
        if text is not None:
            params["crs"] = text
    if clicks:
        params["points"] = [[[float(x), float(y)] for x, y, _ in box] for box in clicks]
        params["point_labels"] = [[int(label) for _, _, label in box] for box in clicks]
    if request.prompt_ids is not None:
        params["prompt_ids"] = list(request.prompt_ids)
    collection = client.call(
        "segment",
        params,
        on_progress=on_progress,
        is_cancelled=is_cancelled,
        stop_backend_on_cancel=request.stop_backend_on_cancel,
    )
    return SegmentReply(collection, pixel_frame, backend)


class SegmentTask(QgsTask):
    """Runs one :class:`SegmentRequest` in QGIS's task manager.

    Args:
        client: the backend client.
        request: what to segment.
        on_done: called in the GUI thread with (reply or None, error or None).
    """

    def __init__(
        self,
        client: BackendClient,
        request: SegmentRequest,
        on_done: Callable[[SegmentReply | None, BackendError | None], None],
    ) -> None:
        super().__init__(f"ROS-SAM: segment {len(request.boxes_xyxy)} box(es)", QgsTask.CanCancel)
        self.client = client
        self.request = request
        self.on_done = on_done
        self.reply: SegmentReply | None = None
        self.error: BackendError | None = None

    def run(self) -> bool:
        try:
            self.reply = run_segment_request(
                self.client, self.request, on_progress=self._progress, is_cancelled=self.isCanceled
            )
        except BackendError as exc:
            self.error = exc
            return False
        except Exception as exc:  # noqa: BLE001 - shown in the message bar instead of lost in a thread
            self.error = BackendError(f"unexpected error: {exc}")
            return False
        return True

    def _progress(self, done: int, total: int) -> None:
        self.setProgress(100.0 * done / total if total else 100.0)

    def finished(self, result: bool) -> None:
        if not result and self.error is None:
            self.error = BackendError("cancelled", -32003)
        self.on_done(self.reply if result else None, self.error)


class CallTask(QgsTask):
    """Runs one short backend request (e.g. ``version``) in the task manager.

    Args:
        on_done: called in the GUI thread with (result or None, error or None).
    """

    def __init__(
        self,
        client: BackendClient,
        method: str,
        params: dict[str, Any],
        on_done: Callable[[Any, BackendError | None], None],
    ) -> None:
        super().__init__(f"ROS-SAM: {method}", QgsTask.CanCancel)
        self.client, self.method, self.params, self.on_done = client, method, params, on_done
        self.result: Any = None
        self.error: BackendError | None = None

    def run(self) -> bool:
        try:
            self.result = self.client.call(self.method, self.params, is_cancelled=self.isCanceled)
        except BackendError as exc:
            self.error = exc
            return False
        return True

    def finished(self, result: bool) -> None:
        self.on_done(self.result if result else None, self.error)


class ProbeTask(QgsTask):
    """Asks a backend for ``version`` and ``environment`` ("Test backend" in the settings dialog).

    Args:
        on_done: called in the GUI thread with (version or None, environment or None, error or None);
            environment is None for backends that predate that request.
    """

    def __init__(
        self,
        client: BackendClient,
        on_done: Callable[[dict[str, Any] | None, dict[str, Any] | None, BackendError | None], None],
    ) -> None:
        super().__init__("ROS-SAM: test backend", QgsTask.CanCancel)
        self.client, self.on_done = client, on_done
        self.version: dict[str, Any] | None = None
        self.environment: dict[str, Any] | None = None
        self.error: BackendError | None = None

    def run(self) -> bool:
        try:
            self.version = self.client.call("version", is_cancelled=self.isCanceled, timeout_s=60)
            try:
                self.environment = self.client.call(
                    "environment", is_cancelled=self.isCanceled, timeout_s=120
                )
            except BackendError as exc:
                if exc.code != METHOD_NOT_FOUND:
                    raise
        except BackendError as exc:
            self.error = exc
            return False
        return True

    def finished(self, result: bool) -> None:
        if not result and self.error is None:
            self.error = BackendError("cancelled", -32003)
        self.on_done(self.version, self.environment, self.error)
