"""From a drawn box to a polygon in the output layer: request, task, result, message bar."""

from __future__ import annotations

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

from .backend import BackendClient, BackendError
from .results import add_as_edit, find_or_create_output_layer, result_crs, to_features
from .settings import PluginSettings, output_layer_id
from .tasks import SegmentRequest, SegmentTask, raster_path

MESSAGE_TITLE = "ROS-SAM"


class SegmentController:
    """Turns boxes drawn on the canvas into polygons, one QgsTask per box.

    Args:
        iface: the QGIS interface (canvas, message bar, active layer).
        client: the backend client.
    """

    def __init__(self, iface: Any, client: BackendClient) -> None:
        self.iface = iface
        self.client = client
        self.tasks: list[SegmentTask] = []
        self.last_layer: QgsVectorLayer | None = None

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
        raster = self.raster_layer()
        if raster is None:
            self.iface.messageBar().pushMessage(
                MESSAGE_TITLE, "select a raster layer to segment first", level=Qgis.Warning, duration=5
            )
            return None
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        layer_rect = QgsRectangle(rect)
        if canvas_crs.isValid() and raster.crs().isValid() and canvas_crs != raster.crs():
            layer_rect = QgsCoordinateTransform(
                canvas_crs, raster.crs(), QgsProject.instance()
            ).transformBoundingBox(rect)
        settings = PluginSettings.load()
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
        task = SegmentTask(self.client, request, lambda fc, pf, err: self._done(task, raster, fc, pf, err))
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _done(
        self,
        task: SegmentTask,
        raster: QgsMapLayer,
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
                text = error.message if error is not None else "no result"
                bar.pushMessage(MESSAGE_TITLE, text, level=Qgis.Critical, duration=10)
            return
        source_crs = result_crs(collection, raster.crs())
        schema = self.client.backend_info()["output_schema"]  # asked by the task, so no wait here
        layer = find_or_create_output_layer(output_layer_id(), source_crs, schema)
        features = to_features(
            collection,
            layer.fields(),
            source_crs=source_crs,
            target_crs=layer.crs(),
            pixel_frame=pixel_frame,
            include_empty=False,
        )
        added = add_as_edit(layer, features)
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
