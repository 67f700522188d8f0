"""Processing algorithm "Segment boxes to polygons": raster layer + box layer -> one polygon per box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..backend import BackendClient, BackendError
from ..results import result_crs, result_fields, to_features
from ..settings import DEVICES, PluginSettings
from ..tasks import SegmentRequest, raster_path, run_segment_request


class SegmentBoxesAlgorithm(QgsProcessingAlgorithm):
    """Segments the object inside each feature's bounding box of a vector layer over a raster layer.

    Boxes may be in any CRS (they are reprojected by the backend with a densified outline). Output: one
    feature per box, in the raster's CRS, with the backend's attributes plus ``box_fid``; boxes that could not
    be segmented keep a feature with empty geometry and ``status``/``reason``.
    """

    RASTER = "RASTER"
    BOXES = "BOXES"
    ENGINE = "ENGINE"
    WEIGHTS = "WEIGHTS"
    DEVICE = "DEVICE"
    CROP_SIZE = "CROP_SIZE"
    OUTPUT = "OUTPUT"

    def __init__(self, client: Callable[[], BackendClient]) -> None:
        super().__init__()
        self._client = client

    def createInstance(self) -> SegmentBoxesAlgorithm:  # noqa: N802 - QGIS API
        return SegmentBoxesAlgorithm(self._client)

    def name(self) -> str:
        return "segmentboxes"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return "Segment boxes to polygons"

    def group(self) -> str:
        return "Segmentation"

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "segmentation"

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return (
            "Segments the object inside the bounding box of each feature of the box layer, over the raster, "
            "with the ROS-SAM backend (rossam-geo serve). One output feature per box, in the raster's CRS."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        settings = PluginSettings.load()
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(
            QgsProcessingParameterFeatureSource(self.BOXES, "Boxes", [QgsProcessing.TypeVectorAnyGeometry])
        )
        self.addParameter(
            QgsProcessingParameterString(self.ENGINE, "Engine (a name the backend knows)", settings.engine)
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.WEIGHTS, "Weights (file or name)", settings.weights, optional=True
            )
        )
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, "Device", list(DEVICES), defaultValue=0))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.CROP_SIZE,
                "Crop size (px)",
                QgsProcessingParameterNumber.Integer,
                settings.crop_size,
                False,
                64,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSink(self.OUTPUT, "Objects", QgsProcessing.TypeVectorPolygon)
        )

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        raster = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        source = self.parameterAsSource(parameters, self.BOXES, context)
        if raster is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.RASTER))
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.BOXES))
        engine = self.parameterAsString(parameters, self.ENGINE, context).strip()
        weights = self.parameterAsString(parameters, self.WEIGHTS, context).strip()
        device = list(DEVICES)[self.parameterAsEnum(parameters, self.DEVICE, context)]
        crop_size = self.parameterAsInt(parameters, self.CROP_SIZE, context)

        try:
            backend = self._client().backend_info(is_cancelled=feedback.isCanceled)
        except BackendError as exc:
            raise QgsProcessingException(exc.message) from None
        if engine not in backend["engines"]:
            raise QgsProcessingException(
                f"unknown engine {engine!r}; the backend offers: {', '.join(backend['engines'])}"
            )
        fields = QgsFields()
        fields.append(QgsField("box_fid", QVariant.LongLong))
        for field in result_fields(backend["output_schema"]):
            fields.append(field)
        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon, raster.crs()
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))

        boxes, fids = [], []
        layer_boxes = []
        to_layer = None
        if source.sourceCrs().isValid() and raster.crs().isValid() and source.sourceCrs() != raster.crs():
            from qgis.core import QgsCoordinateTransform

            to_layer = QgsCoordinateTransform(source.sourceCrs(), raster.crs(), context.transformContext())
        for feature in source.getFeatures():
            geometry = feature.geometry()
            if geometry is None or geometry.isEmpty():
                feedback.pushInfo(f"box feature {feature.id()} has no geometry; skipped")
                continue
            rect = geometry.boundingBox()
            boxes.append((rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()))
            layer_rect = to_layer.transformBoundingBox(rect) if to_layer is not None else rect
            layer_boxes.append(
                (layer_rect.xMinimum(), layer_rect.yMinimum(), layer_rect.xMaximum(), layer_rect.yMaximum())
            )
            fids.append(feature.id())
        if not boxes:
            return {self.OUTPUT: dest_id}

        model: dict[str, Any] = {"engine": engine, "device": device}
        if weights:
            model["weights"] = weights
        request = SegmentRequest(
            raster_path=raster_path(raster),
            boxes_xyxy=boxes,
            boxes_crs=source.sourceCrs(),
            boxes_in_layer_xyxy=layer_boxes,
            model=model,
            options={"crop_size": crop_size},
        )
        feedback.pushInfo(f"segmenting {len(boxes)} box(es) with engine {engine!r}")
        try:
            collection, pixel_frame = run_segment_request(
                self._client(),
                request,
                on_progress=lambda done, total: feedback.setProgress(
                    100.0 * done / total if total else 100.0
                ),
                is_cancelled=feedback.isCanceled,
            )
        except BackendError as exc:
            if exc.cancelled:
                feedback.reportError("cancelled")
                return {self.OUTPUT: dest_id}
            raise QgsProcessingException(exc.message) from None
        features = to_features(
            collection,
            fields,
            source_crs=result_crs(collection, raster.crs()),
            target_crs=raster.crs(),
            pixel_frame=pixel_frame,
            include_empty=True,
            extra=[{"box_fid": fid} for fid in fids],
        )
        for feature in features:
            if feedback.isCanceled():
                break
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
            status = feature["status"]
            if status != "ok":
                feedback.pushWarning(f"box {feature['box_fid']}: {status}: {feature['reason']}")
        return {self.OUTPUT: dest_id}
