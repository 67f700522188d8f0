"""From a drawn box to a polygon in the output layer: request, task, result, message bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsMapLayer,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt import sip

from .backend import BackendClient, BackendError
from .messages import backend_error_text
from .output_layer import OutputLayerError, resolve_output_layer
from .refine import Refinement
from .results import add_results, report_statuses, result_crs, to_features
from .settings import PluginSettings
from .tasks import SegmentReply, SegmentRequest, SegmentTask, raster_path

MESSAGE_TITLE = "ROS-SAM"


def ask_gpkg_path() -> str | None:
    """Ask once where results are kept (a GeoPackage file); None when the user declines."""
    from qgis.PyQt.QtWidgets import QFileDialog

    path, _filter = QFileDialog.getSaveFileName(
        None,
        "ROS-SAM: GeoPackage to keep the results in",
        "rossam_objects.gpkg",
        "GeoPackage (*.gpkg)",
        options=QFileDialog.DontConfirmOverwrite,  # an existing GeoPackage gets a layer, nothing is replaced
    )
    return path or None


class SegmentController:
    """Turns boxes drawn on the canvas into polygons, one QgsTask per box; refines a box with clicks.

    :meth:`segment_rect` writes a box's result at once; :meth:`refine_rect` (the map tool) shows it as a
    preview that :meth:`refine_click` refines, :meth:`accept_refinement` writes and
    :meth:`discard_refinement` drops (see :mod:`.refine`).

    Results are written in drawing order (a result waits for those of earlier boxes), each with the next
    prompt id of its output layer (unique and increasing) and the class active when its box was drawn. The
    output layer is resolved when the first result arrives, with the fields of the backend's output schema.

    Args:
        iface: the QGIS interface (canvas, message bar, active layer).
        client: the backend client.
        ask_path: asks where to keep results when the project has no output GeoPackage yet.
    """

    def __init__(
        self, iface: Any, client: BackendClient, ask_path: Callable[[], str | None] = ask_gpkg_path
    ) -> None:
        self.iface = iface
        self.client = client
        self.ask_path = ask_path
        #: the tasks still running or waiting for an earlier box's result, in drawing order.
        self.tasks: list[SegmentTask] = []
        self.last_layer: QgsVectorLayer | None = None
        self._next_ids: dict[str, int] = {}
        self._finished: dict[int, Callable[[], None]] = {}
        #: the box being refined with clicks (map tool), if any.
        self.refinement: Refinement | None = None

    def raster_layer(self) -> QgsRasterLayer | None:
        """The active layer if it is a raster, else the topmost raster layer of the project."""
        active = self.iface.activeLayer()
        if isinstance(active, QgsRasterLayer) and active.isValid():
            return active
        for layer in QgsProject.instance().layerTreeRoot().layerOrder():
            if isinstance(layer, QgsRasterLayer) and layer.isValid():
                return layer
        return None

    def request_for(self, raster: QgsRasterLayer, rect: QgsRectangle) -> SegmentRequest:
        """The request segmenting the object in ``rect`` (canvas map coordinates) with the saved settings."""
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        settings = PluginSettings.load()
        return SegmentRequest(
            raster_path=raster_path(raster),
            boxes_xyxy=[(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())],
            boxes_crs=canvas_crs,
            boxes_in_layer_xyxy=[rect_xyxy(self.to_layer(raster).transformBoundingBox(rect))],
            model=settings.model_params(),
            options=settings.segment_options(),
        )

    def to_layer(self, raster: QgsRasterLayer) -> QgsCoordinateTransform:
        """Canvas -> raster layer coordinates (the identity when both have the same or no CRS)."""
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        if canvas_crs.isValid() and raster.crs().isValid() and canvas_crs != raster.crs():
            return QgsCoordinateTransform(canvas_crs, raster.crs(), QgsProject.instance())
        return QgsCoordinateTransform()

    def segment_rect(self, rect: QgsRectangle) -> SegmentTask | None:
        """Start segmenting the object in ``rect`` (canvas map coordinates); returns the task, or None."""
        raster = self.raster_layer()
        if raster is None:
            self.iface.messageBar().pushMessage(
                MESSAGE_TITLE, "select a raster layer to segment first", level=Qgis.Warning
            )
            return None
        request = self.request_for(raster, rect)
        active_class = PluginSettings.load().active_class or None

        def done(reply: SegmentReply | None, error: BackendError | None) -> None:
            self._finished[id(task)] = lambda: self._done(task, raster, active_class, reply, error)
            self._write_finished()

        task = SegmentTask(self.client, request, done)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _write_finished(self) -> None:
        """Handle the finished tasks at the head of the queue, in drawing order."""
        while self.tasks and id(self.tasks[0]) in self._finished:
            task = self.tasks.pop(0)
            self._finished.pop(id(task))()

    def next_prompt_id(self, layer: QgsVectorLayer) -> int:
        """One more than the largest integer ``prompt_id`` of ``layer`` (and of the ids handed out)."""
        key = layer.id()
        if key not in self._next_ids:
            largest = -1
            index = layer.fields().indexFromName("prompt_id")
            if index >= 0:
                for value in layer.uniqueValues(index):
                    try:
                        largest = max(largest, int(str(value)))
                    except ValueError:
                        continue
            self._next_ids[key] = largest + 1
        value = self._next_ids[key]
        self._next_ids[key] = value + 1
        return value

    def _done(
        self,
        task: SegmentTask,
        raster: QgsMapLayer,
        active_class: str | None,
        reply: SegmentReply | None,
        error: BackendError | None,
    ) -> None:
        bar = self.iface.messageBar()
        if error is not None or reply is None:
            if error is not None and error.cancelled:
                bar.pushMessage(MESSAGE_TITLE, "segmentation cancelled", level=Qgis.Info, duration=3)
            else:
                engine = str(task.request.model.get("engine") or "")
                text = "no result" if error is None else backend_error_text(error.message, error.code, engine)
                bar.pushMessage(MESSAGE_TITLE, text, level=Qgis.Critical, duration=10)
            return
        self.write_reply(reply, raster, active_class)

    def write_reply(self, reply: SegmentReply, raster: QgsMapLayer, active_class: str | None) -> int:
        """Add the results of ``reply`` to the output layer, each with the next prompt id and
        ``active_class``; statuses other than "ok" are reported in the message bar. Returns the number
        added."""
        bar = self.iface.messageBar()
        if sip.isdeleted(raster):
            bar.pushMessage(
                MESSAGE_TITLE, "the raster layer was removed; draw the box again", level=Qgis.Warning
            )
            return 0
        try:
            layer, warning = resolve_output_layer(raster.crs(), self.ask_path, reply.schema)
        except OutputLayerError as exc:
            bar.pushMessage(MESSAGE_TITLE, str(exc), level=Qgis.Critical, duration=10)
            return 0
        if warning:
            bar.pushMessage(MESSAGE_TITLE, warning, level=Qgis.Warning, duration=10)
        collection = reply.collection
        items = collection.get("features", [])
        extra = [
            {"prompt_id": self.next_prompt_id(layer), "class": active_class}
            for item in items
            if item.get("geometry") is not None
        ]
        features = to_features(
            {**collection, "features": [item for item in items if item.get("geometry") is not None]},
            layer.fields(),
            source_crs=result_crs(collection, raster.crs()),
            target_crs=layer.crs(),
            pixel_frame=reply.pixel_frame,
            include_empty=False,
            extra=extra,
        )
        added = add_results(layer, features)
        self.last_layer = layer
        report_statuses(bar, items)
        if added:
            self.iface.mapCanvas().refresh()
        return added

    # ------------------------------------------------------------------------------------------ refinement
    def refine_rect(self, rect: QgsRectangle) -> Refinement | None:
        """Show the result of ``rect`` (canvas map coordinates) as a preview that clicks refine; a preview
        still shown is accepted first. Returns the refinement, or None without a raster layer."""
        self.accept_refinement()
        raster = self.raster_layer()
        if raster is None:
            self.iface.messageBar().pushMessage(
                MESSAGE_TITLE, "select a raster layer to segment first", level=Qgis.Warning
            )
            return None
        to_layer = self.to_layer(raster)
        self.refinement = Refinement(
            self.iface,
            self.client,
            raster,
            self.request_for(raster, rect),
            to_layer.transform,
            PluginSettings.load().active_class or None,
            self.write_reply,
        )
        return self.refinement

    def refine_click(self, point: QgsPointXY, label: int) -> None:
        """A click (canvas map coordinates; label 1 on the object, 0 off it) refines the preview shown."""
        if self.refinement is not None and not self.refinement.finished:
            self.refinement.add_click(point, label)

    def accept_refinement(self) -> None:
        """Write the preview shown (Enter), if any."""
        if self.refinement is not None:
            self.refinement.accept()

    def discard_refinement(self) -> None:
        """Drop the preview shown (Esc), if any."""
        if self.refinement is not None:
            self.refinement.discard()
            self.refinement = None

    def cancel_all(self) -> None:
        """Cancel the tasks still running and drop the preview (used when the plugin unloads)."""
        self.discard_refinement()
        for task in list(self.tasks):
            task.cancel()


def rect_xyxy(rect: QgsRectangle) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a rectangle."""
    return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
