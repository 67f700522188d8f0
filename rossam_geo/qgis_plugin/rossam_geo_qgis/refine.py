"""Refining a box's result with clicks: a preview on the canvas, updated in place by each click.

After a box, its result is shown as a preview (a dashed outline, the box and the clicks). A click on the
object (left button) or off it (right button) asks the backend again, with the box and all clicks so far,
in one ``segment`` request; a new click cancels the request still pending, and only the latest answer is
shown. Enter writes the latest result through the controller's normal output path (one undoable edit when
the output layer is being edited); Esc discards it. The box's window never moves: the backend plans it from
the box alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsRasterLayer,
    QgsRectangle,
    QgsWkbTypes,
)
from qgis.gui import QgsMapCanvas, QgsRubberBand
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor

from .backend import BackendClient, BackendError
from .messages import backend_error_text
from .results import report_statuses, result_crs, to_features
from .tasks import SegmentReply, SegmentRequest, SegmentTask

MESSAGE_TITLE = "ROS-SAM"
#: colour of the preview's outline; colour and icon of the clicks on the object (1) and off it (0).
PREVIEW_COLOUR = QColor(0, 220, 255)
CLICK_MARKS = {
    1: (QColor(40, 200, 40), QgsRubberBand.ICON_FULL_BOX),
    0: (QColor(230, 40, 40), QgsRubberBand.ICON_X),
}

#: writes an accepted reply: (reply, raster layer, class) -> number of features added.
Writer = Callable[[SegmentReply, QgsRasterLayer, "str | None"], int]


class Refinement:
    """One box being refined: its clicks, the latest result and the pending request.

    Args:
        iface: the QGIS interface (canvas, message bar).
        client: the backend client.
        raster: the raster layer segmented.
        request: the box's request (canvas CRS, and the raster layer's coordinates for plain images).
        to_layer: canvas -> raster layer coordinates, for the clicks on plain images.
        active_class: the class written with the result.
        write: writes the accepted result (the controller's output path).
    """

    def __init__(
        self,
        iface: Any,
        client: BackendClient,
        raster: QgsRasterLayer,
        request: SegmentRequest,
        to_layer: Callable[[QgsPointXY], QgsPointXY],
        active_class: str | None,
        write: Writer,
    ) -> None:
        self.iface, self.client, self.raster, self.request = iface, client, raster, request
        self.to_layer, self.active_class, self.write = to_layer, active_class, write
        #: clicks so far: (point in canvas map coordinates, label 1 on the object or 0 off it).
        self.clicks: list[tuple[QgsPointXY, int]] = []
        #: the latest result, for the box and all clicks (None until it arrives).
        self.reply: SegmentReply | None = None
        self.task: SegmentTask | None = None
        self.requests = 0
        self.finished = False
        self._accept_when_done = False
        canvas: QgsMapCanvas = iface.mapCanvas()
        self.preview = _band(canvas, QgsWkbTypes.PolygonGeometry, PREVIEW_COLOUR, QColor(0, 220, 255, 45))
        self.box = _band(canvas, QgsWkbTypes.PolygonGeometry, QColor(255, 140, 0), QColor(0, 0, 0, 0))
        self.box.setWidth(1)
        self.box.setToGeometry(QgsGeometry.fromRect(QgsRectangle(*request.boxes_xyxy[0])), None)
        self.markers = {label: _marker(canvas, *mark) for label, mark in CLICK_MARKS.items()}
        self._send()

    @property
    def pending(self) -> bool:
        """A request is on its way (its answer will replace the preview)."""
        return self.task is not None

    def add_click(self, point: QgsPointXY, label: int) -> None:
        """Add a click (canvas map coordinates) and ask again; a pending request is cancelled."""
        if self.finished:
            return
        self.clicks.append((QgsPointXY(point), int(label)))
        self.markers[int(label)].addPoint(QgsPointXY(point))
        self._send()

    def accept(self) -> int:
        """Write the latest result (at once, or when the pending answer arrives); returns features added."""
        if self.finished:
            return 0
        if self.pending:
            self._accept_when_done = True
            return 0
        added = self.write(self.reply, self.raster, self.active_class) if self.reply is not None else 0
        self.close()
        return added

    def discard(self) -> None:
        """Drop the result; a pending request is cancelled."""
        self.close()

    def close(self) -> None:
        """End the refinement: cancel what is pending and remove the preview from the canvas."""
        self.finished = True
        if self.task is not None:
            self.task.cancel()
            self.task = None
        scene = self.iface.mapCanvas().scene()
        polygons = (self.preview, self.box)
        for band in (*polygons, *self.markers.values()):
            if not sip.isdeleted(band):
                polygon = any(band is p for p in polygons)
                band.reset(QgsWkbTypes.PolygonGeometry if polygon else QgsWkbTypes.PointGeometry)
                if scene is not None:
                    scene.removeItem(band)

    # ------------------------------------------------------------------------------------------- requests
    def _send(self) -> None:
        if self.task is not None:
            self.task.cancel()  # the backend is asked to cancel it; its answer is ignored
        canvas_clicks = [(p.x(), p.y(), label) for p, label in self.clicks]
        layer_clicks = []
        for point, label in self.clicks:
            layer_point = self.to_layer(point)
            layer_clicks.append((layer_point.x(), layer_point.y(), label))
        request = SegmentRequest(
            raster_path=self.request.raster_path,
            boxes_xyxy=self.request.boxes_xyxy,
            boxes_crs=self.request.boxes_crs,
            boxes_in_layer_xyxy=self.request.boxes_in_layer_xyxy,
            model=self.request.model,
            options=self.request.options,
            clicks=[canvas_clicks] if canvas_clicks else None,
            clicks_in_layer=[layer_clicks] if layer_clicks else None,
            stop_backend_on_cancel=False,
        )

        def done(reply: SegmentReply | None, error: BackendError | None) -> None:
            if task is self.task:
                self._answered(reply, error)

        task = SegmentTask(self.client, request, done)
        self.task = task
        self.requests += 1
        QgsApplication.taskManager().addTask(task)

    def _answered(self, reply: SegmentReply | None, error: BackendError | None) -> None:
        self.task = None
        if self.finished:
            return
        bar = self.iface.messageBar()
        if error is not None or reply is None:
            if error is None or not error.cancelled:
                engine = str(self.request.model.get("engine") or "")
                text = "no result" if error is None else backend_error_text(error.message, error.code, engine)
                bar.pushMessage(MESSAGE_TITLE, text, level=Qgis.Critical, duration=10)
            self._accept_when_done = False
            return
        self.reply = reply
        self._show(reply)
        if self._accept_when_done:
            self.accept()

    def _show(self, reply: SegmentReply) -> None:
        """Draw the reply's polygon in the canvas CRS (or say why there is none)."""
        canvas = self.iface.mapCanvas()
        self.preview.reset(QgsWkbTypes.PolygonGeometry)
        features = to_features(
            reply.collection,
            QgsFields(),
            source_crs=result_crs(reply.collection, self.raster.crs()),
            target_crs=canvas.mapSettings().destinationCrs(),
            pixel_frame=reply.pixel_frame,
            include_empty=False,
        )
        if features:
            self.preview.setToGeometry(features[0].geometry(), None)
        report_statuses(self.iface.messageBar(), reply.collection.get("features", []))

    def preview_geometry(self) -> QgsGeometry:
        """The polygon shown, in canvas map coordinates (empty before the first answer)."""
        return self.preview.asGeometry()


def _band(
    canvas: QgsMapCanvas, kind: QgsWkbTypes.GeometryType, stroke: QColor, fill: QColor
) -> QgsRubberBand:
    band = QgsRubberBand(canvas, kind)
    band.setStrokeColor(stroke)
    band.setFillColor(fill)
    band.setWidth(2)
    band.setLineStyle(Qt.DashLine)
    return band


def _marker(canvas: QgsMapCanvas, colour: QColor, icon: QgsRubberBand.IconType) -> QgsRubberBand:
    band = QgsRubberBand(canvas, QgsWkbTypes.PointGeometry)
    band.setColor(colour)
    band.setIcon(icon)
    band.setIconSize(12)
    band.setWidth(3)
    return band
