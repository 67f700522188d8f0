"""From a drawn box to a polygon in the output layer: request, task, result, message bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsMapLayer,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt import sip

from .backend import BackendClient, BackendError
from .messages import backend_error_text
from .output_layer import OutputLayerError, resolve_output_layer
from .results import add_results, result_crs, to_features
from .settings import PluginSettings
from .tasks import SegmentRequest, SegmentTask, raster_path

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
    """Turns boxes drawn on the canvas into polygons, one QgsTask per box.

    Each box gets the next prompt id of its output layer (unique and increasing, in drawing order) and the
    active class of the toolbar.

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
        self.tasks: list[SegmentTask] = []
        self.last_layer: QgsVectorLayer | None = None
        self._next_ids: dict[str, int] = {}

    def raster_layer(self) -> QgsRasterLayer | None:
        """The active layer if it is a raster, else the topmost raster layer of the project."""
        active = self.iface.activeLayer()
        if isinstance(active, QgsRasterLayer) and active.isValid():
            return active
        for layer in QgsProject.instance().layerTreeRoot().layerOrder():
            if isinstance(layer, QgsRasterLayer) and layer.isValid():
                return layer
        return None

    def segment_rect(self, rect: QgsRectangle) -> SegmentTask | None:
        """Start segmenting the object in ``rect`` (canvas map coordinates); returns the task, or None."""
        bar = self.iface.messageBar()
        raster = self.raster_layer()
        if raster is None:
            bar.pushMessage(MESSAGE_TITLE, "select a raster layer to segment first", level=Qgis.Warning)
            return None
        try:
            layer, warning = resolve_output_layer(raster.crs(), self.ask_path)
        except OutputLayerError as exc:
            bar.pushMessage(MESSAGE_TITLE, str(exc), level=Qgis.Critical, duration=10)
            return None
        if warning:
            bar.pushMessage(MESSAGE_TITLE, warning, level=Qgis.Warning, duration=10)
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        layer_rect = QgsRectangle(rect)
        if canvas_crs.isValid() and raster.crs().isValid() and canvas_crs != raster.crs():
            layer_rect = QgsCoordinateTransform(
                canvas_crs, raster.crs(), QgsProject.instance()
            ).transformBoundingBox(rect)
        settings = PluginSettings.load()
        attributes = {"prompt_id": str(self.next_prompt_id(layer)), "class": settings.active_class or None}
        request = SegmentRequest(
            raster_path=raster_path(raster),
            boxes_xyxy=[(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())],
            boxes_crs=canvas_crs,
            boxes_in_layer_xyxy=[
                (layer_rect.xMinimum(), layer_rect.yMinimum(), layer_rect.xMaximum(), layer_rect.yMaximum())
            ],
            model=settings.model_params(),
            options={"crop_size": settings.crop_size},
        )

        def done(collection: dict[str, Any] | None, pixel_frame: bool, error: BackendError | None) -> None:
            self._done(task, raster, layer, attributes, collection, pixel_frame, error)

        task = SegmentTask(self.client, request, done)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

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
        layer: QgsVectorLayer,
        attributes: dict[str, Any],
        collection: dict[str, Any] | None,
        pixel_frame: bool,
        error: BackendError | None,
    ) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        bar = self.iface.messageBar()
        if error is not None or collection is None:
            if error is not None and error.cancelled:
                bar.pushMessage(MESSAGE_TITLE, "segmentation cancelled", level=Qgis.Info, duration=3)
            else:
                engine = str(task.request.model.get("engine") or "")
                text = "no result" if error is None else backend_error_text(error.message, error.code, engine)
                bar.pushMessage(MESSAGE_TITLE, text, level=Qgis.Critical, duration=10)
            return
        if sip.isdeleted(layer) or QgsProject.instance().mapLayer(layer.id()) is None:
            bar.pushMessage(
                MESSAGE_TITLE, "the output layer was removed; draw the box again", level=Qgis.Warning
            )
            return
        source_crs = result_crs(collection, raster.crs())
        features = to_features(
            collection,
            layer.fields(),
            source_crs=source_crs,
            target_crs=layer.crs(),
            pixel_frame=pixel_frame,
            include_empty=False,
            extra=[attributes] * len(collection.get("features", [])),
        )
        added = add_results(layer, features)
        self.last_layer = layer
        for item in collection.get("features", []):
            properties = item.get("properties") or {}
            if properties.get("status") not in (None, "ok"):
                bar.pushMessage(
                    MESSAGE_TITLE,
                    f"box {properties.get('status')}: {properties.get('reason')}",
                    level=Qgis.Warning,
                    duration=5,
                )
        if added:
            self.iface.mapCanvas().refresh()

    def cancel_all(self) -> None:
        """Cancel the tasks still running (used when the plugin unloads)."""
        for task in list(self.tasks):
            task.cancel()
