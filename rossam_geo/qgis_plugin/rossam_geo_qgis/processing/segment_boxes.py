"""Processing algorithm "Segment boxes to polygons": raster layer + box layer -> one polygon per box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    NULL,
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
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..backend import BackendClient, BackendError
from ..messages import backend_error_text
from ..results import result_crs, result_fields, to_features
from ..settings import DEVICES, PluginSettings
from ..tasks import SegmentRequest, raster_path, run_segment_request

#: Box-layer fields taken as the class when no class field is chosen, in this order (as ``rossam-geo
#: segment``'s ``--class-field`` default).
CLASS_FIELD_NAMES = ("class", "label", "category", "class_name")


class SegmentBoxesAlgorithm(QgsProcessingAlgorithm):
    """Segments the object inside each feature's bounding box of a vector layer over a raster layer.

    Boxes may be in any CRS (they are reprojected by the backend with a densified outline). Output: one
    feature per box, in the raster's CRS, with the backend's attributes plus ``box_fid`` and the box's class
    (from the class field); boxes that could not be segmented keep a feature with empty geometry and
    ``status``/``reason``.
    """

    RASTER = "RASTER"
    BOXES = "BOXES"
    CLASS_FIELD = "CLASS_FIELD"
    ENGINE = "ENGINE"
    WEIGHTS = "WEIGHTS"
    DEVICE = "DEVICE"
    CROP_SIZE = "CROP_SIZE"
    MIN_SCORE = "MIN_SCORE"
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
            "with the ROS-SAM backend (rossam-geo serve). One output feature per box, in the raster's CRS. "
            "Class field: the box attribute copied to the output's class field (default: a field named "
            "class, label, category or class_name). Engine, weights, device, crop size and the score below "
            "which results are flagged (status low_score) default to the ROS-SAM settings."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        settings = PluginSettings.load()
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(
            QgsProcessingParameterFeatureSource(self.BOXES, "Boxes", [QgsProcessing.TypeVectorAnyGeometry])
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.CLASS_FIELD, "Class field", parentLayerParameterName=self.BOXES, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.ENGINE, "Engine (one the backend offers, e.g. rossam, grabcut)", settings.engine
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.WEIGHTS, "Weights (file or name)", settings.weights, optional=True
            )
        )
        devices = list(DEVICES)
        self.addParameter(
            QgsProcessingParameterEnum(
                self.DEVICE,
                "Device",
                devices,
                defaultValue=devices.index(settings.device) if settings.device in devices else 0,
            )
        )
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
            QgsProcessingParameterNumber(
                self.MIN_SCORE,
                "Flag results with score below (status low_score; 0: none)",
                QgsProcessingParameterNumber.Double,
                settings.min_score,
                False,
                0.0,
                1.0,
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
        min_score = self.parameterAsDouble(parameters, self.MIN_SCORE, context)
        class_field = self.parameterAsString(parameters, self.CLASS_FIELD, context).strip()
        if not class_field:
            names = set(source.fields().names())
            class_field = next((n for n in CLASS_FIELD_NAMES if n in names), "")
        elif source.fields().indexFromName(class_field) < 0:
            raise QgsProcessingException(f"the box layer has no field {class_field!r}; choose another one")

        try:
            backend = self._client().backend_info(is_cancelled=feedback.isCanceled)
        except BackendError as exc:
            raise QgsProcessingException(backend_error_text(exc.message, exc.code, engine)) from None
        if engine not in backend.get("engines", []):
            raise QgsProcessingException(
                f"unknown engine {engine!r}; the backend offers: {', '.join(backend.get('engines', []))}"
            )
        fields = QgsFields()
        fields.append(QgsField("box_fid", QVariant.LongLong))
        for field in result_fields(backend.get("output_schema") or {}):
            fields.append(field)
        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon, raster.crs()
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))

        boxes, fids, classes = [], [], []
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
            value = feature[class_field] if class_field else None
            classes.append(None if value is None or value == NULL else str(value))
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
            options={"crop_size": crop_size, **({"min_score": min_score} if min_score > 0 else {})},
            prompt_ids=fids,  # the results' prompt_id is the box feature's id, as with rossam-geo segment
        )
        feedback.pushInfo(f"segmenting {len(boxes)} box(es) with engine {engine!r}")
        try:
            reply = run_segment_request(
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
            raise QgsProcessingException(backend_error_text(exc.message, exc.code, engine)) from None
        features = to_features(
            reply.collection,
            fields,
            source_crs=result_crs(reply.collection, raster.crs()),
            target_crs=raster.crs(),
            pixel_frame=reply.pixel_frame,
            include_empty=True,
            extra=[{"box_fid": fid, "class": cls} for fid, cls in zip(fids, classes, strict=True)],
        )
        for feature in features:
            if feedback.isCanceled():
                break
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
            status = feature["status"]
            if status == "low_score":
                feedback.pushInfo(f"box {feature['box_fid']}: {feature['reason']}")
            elif status != "ok":
                feedback.pushWarning(f"box {feature['box_fid']}: {status}: {feature['reason']}")
        return {self.OUTPUT: dest_id}
