"""Turning backend results (GeoJSON FeatureCollections) into QGIS features, and adding them to a layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

from .geojson import crs_string, flip_geometry_y, geometry_to_wkt

#: QGIS field types of the types of the backend's output schema (the ``output_schema`` of its ``version``
#: reply, which lists the fields; the plugin keeps no copy of them).
FIELD_TYPES: dict[str, QVariant.Type] = {
    "integer": QVariant.LongLong,
    "real": QVariant.Double,
    "string": QVariant.String,
}


def result_fields(schema: Mapping[str, str]) -> QgsFields:
    """QgsFields of the output attributes, from the backend's output schema (field name -> type)."""
    out = QgsFields()
    for name, kind in schema.items():
        out.append(QgsField(name, FIELD_TYPES.get(kind, QVariant.String)))
    return out


def result_crs(
    collection: dict[str, Any], fallback: QgsCoordinateReferenceSystem
) -> QgsCoordinateReferenceSystem:
    """The CRS of a result collection (``fallback`` when the raster is a plain image in pixels)."""
    text = crs_string(collection.get("crs"))
    if text is None:
        return fallback
    crs = QgsCoordinateReferenceSystem(text)
    if not crs.isValid():
        crs = QgsCoordinateReferenceSystem.fromWkt(text)
    return crs if crs.isValid() else fallback


def to_features(
    collection: dict[str, Any],
    fields: QgsFields,
    *,
    source_crs: QgsCoordinateReferenceSystem,
    target_crs: QgsCoordinateReferenceSystem,
    pixel_frame: bool,
    include_empty: bool,
    extra: list[dict[str, Any]] | None = None,
) -> list[QgsFeature]:
    """QgsFeatures of a result collection, in ``target_crs``, multi-polygons.

    Args:
        collection: the backend's FeatureCollection.
        fields: fields of the target layer or sink; result attributes are set where a field has their name.
        source_crs: CRS of the collection's coordinates.
        target_crs: CRS of the target layer.
        pixel_frame: the raster is a plain image: coordinates are pixels, y down, and are flipped to the
            QGIS frame (y up) of such images.
        include_empty: keep features of skipped/failed boxes (with a null geometry).
        extra: per-feature attribute values to add (by field name), in result order.
    """
    transform = None
    if not pixel_frame and source_crs.isValid() and target_crs.isValid() and source_crs != target_crs:
        transform = QgsCoordinateTransform(source_crs, target_crs, QgsProject.instance())
    features = []
    for index, item in enumerate(collection.get("features", [])):
        geometry = item.get("geometry")
        if geometry is None and not include_empty:
            continue
        feature = QgsFeature(fields)
        if geometry is not None:
            if pixel_frame:
                geometry = flip_geometry_y(geometry)
            qgs_geometry = QgsGeometry.fromWkt(geometry_to_wkt(geometry))
            qgs_geometry.convertToMultiType()
            if transform is not None:
                qgs_geometry.transform(transform)
            feature.setGeometry(qgs_geometry)
        values = dict(item.get("properties") or {})
        if extra is not None and index < len(extra):
            values.update(extra[index])
        for name, value in values.items():
            position = fields.indexFromName(name)
            if position >= 0:
                feature.setAttribute(position, None if value is None else _cast(value, fields.at(position)))
        features.append(feature)
    return features


def _cast(value: Any, field: QgsField) -> Any:
    if field.type() == QVariant.String:
        return str(value)
    return value


def report_statuses(bar: Any, items: list[dict[str, Any]]) -> None:
    """Say in the message bar why results are not "ok" (a low score: for information)."""
    for item in items:
        properties = item.get("properties") or {}
        status = properties.get("status")
        if status not in (None, "ok"):
            level = Qgis.Info if status == "low_score" else Qgis.Warning
            bar.pushMessage("ROS-SAM", f"box {status}: {properties.get('reason')}", level=level, duration=5)


def add_results(layer: QgsVectorLayer, features: list[QgsFeature], text: str = "ROS-SAM object") -> int:
    """Add features to ``layer``; returns the number added.

    A layer the user is editing gets them as one undoable edit command (kept with the layer's other edits
    until the user saves them); any other layer gets them written to its data source at once (a GeoPackage
    keeps them on disk), without leaving it in edit mode. Attributes are matched to the layer's fields by
    name.
    """
    if not features:
        return 0
    layer_fields = layer.fields()
    converted = []
    for feature in features:
        target = QgsFeature(layer_fields)
        target.setGeometry(feature.geometry())
        for position, field in enumerate(feature.fields()):
            index = layer_fields.indexFromName(field.name())
            if index >= 0:
                target.setAttribute(index, feature.attribute(position))
        converted.append(target)
    if layer.isEditable():
        layer.beginEditCommand(text)
        if not layer.addFeatures(converted):
            layer.destroyEditCommand()
            return 0
        layer.endEditCommand()
    else:
        ok, _added = layer.dataProvider().addFeatures(converted)
        if not ok:
            return 0
    layer.updateExtents()
    layer.triggerRepaint()
    return len(converted)
