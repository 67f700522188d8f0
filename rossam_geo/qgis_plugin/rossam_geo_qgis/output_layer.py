"""Where map-tool results go: a GeoPackage layer that keeps them, styled as outlines over the imagery.

The output layer is, in this order: the layer chosen in the settings dialog (a polygon layer with the
result fields); else the layer ``rossam_objects`` of the project's GeoPackage (the one chosen in the
settings dialog, else ``<project>_rossam.gpkg`` next to the saved project file, else one asked for once per
project); else, when the user declines to choose one, a temporary memory layer (results are lost on exit,
and the message bar says so). Results are written to the GeoPackage at once (see ``results.add_results``).
New layers get the outline style of :mod:`.style`, with low scores flagged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsMapLayer,
    QgsProject,
    QgsProviderRegistry,
    QgsVectorDataProvider,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .results import result_fields
from .settings import (
    PROJECT_ASKED_KEY,
    PROJECT_GPKG_KEY,
    PluginSettings,
    output_layer_id,
    project_entry,
    set_project_entry,
)
from .style import apply_outline_style

OUTPUT_LAYER_NAME = "ROS-SAM objects"
TEMPORARY_LAYER_NAME = "ROS-SAM objects (temporary)"
#: Layer name inside the GeoPackage.
GPKG_LAYER_NAME = "rossam_objects"
#: Fields a layer must have to be offered as an output layer (so box layers and other inputs are not).
MARKER_FIELDS = ("prompt_id", "status")

AskPath = Callable[[], "str | None"]


class OutputLayerError(Exception):
    """The output GeoPackage cannot be created or its layer is not a polygon layer."""


def is_output_candidate(layer: QgsMapLayer | None) -> bool:
    """A valid, writable polygon layer with the result fields (``prompt_id``, ``status``)."""
    if not isinstance(layer, QgsVectorLayer) or not layer.isValid():
        return False
    if layer.geometryType() != QgsWkbTypes.PolygonGeometry:
        return False
    if any(layer.fields().indexFromName(name) < 0 for name in MARKER_FIELDS):
        return False
    return bool(layer.dataProvider().capabilities() & QgsVectorDataProvider.AddFeatures)


def non_output_layers() -> list[QgsMapLayer]:
    """Polygon layers of the project that are not output candidates (box layers, read-only layers...)."""
    return [
        layer
        for layer in QgsProject.instance().mapLayers().values()
        if isinstance(layer, QgsVectorLayer)
        and layer.geometryType() == QgsWkbTypes.PolygonGeometry
        and not is_output_candidate(layer)
    ]


def default_gpkg_path() -> str:
    """``<project>_rossam.gpkg`` next to the saved project file ("" when the project is not saved)."""
    project_file = QgsProject.instance().fileName()
    if not project_file:
        return ""
    stem = os.path.splitext(os.path.basename(project_file))[0]
    return os.path.join(os.path.dirname(os.path.abspath(project_file)), f"{stem}_rossam.gpkg")


def gpkg_path() -> str:
    """The GeoPackage new results go to: the one chosen for the project, else :func:`default_gpkg_path`."""
    return project_entry(PROJECT_GPKG_KEY) or default_gpkg_path()


def open_or_create_gpkg_layer(
    path: str, crs: QgsCoordinateReferenceSystem, schema: Mapping[str, str]
) -> QgsVectorLayer:
    """The ``rossam_objects`` layer of the GeoPackage ``path``, created (with the file) when missing.

    Only that layer is created in an existing GeoPackage, with the fields of the backend's output
    ``schema``; its other layers are left alone.

    Raises:
        OutputLayerError: the file cannot be written, or its ``rossam_objects`` layer is not polygons.
    """
    uri = f"{path}|layername={GPKG_LAYER_NAME}"
    exists = os.path.exists(path)
    if exists:
        layer = QgsVectorLayer(uri, OUTPUT_LAYER_NAME, "ogr")
        if layer.isValid():
            if layer.geometryType() != QgsWkbTypes.PolygonGeometry:
                raise OutputLayerError(
                    f"layer {GPKG_LAYER_NAME} of {path} is not a polygon layer; choose another output "
                    "GeoPackage in ROS-SAM settings"
                )
            return layer
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = GPKG_LAYER_NAME
    options.actionOnExistingFile = (
        QgsVectorFileWriter.CreateOrOverwriteLayer if exists else QgsVectorFileWriter.CreateOrOverwriteFile
    )
    context = QgsProject.instance().transformContext()
    writer = QgsVectorFileWriter.create(
        path, result_fields(schema), QgsWkbTypes.MultiPolygon, crs, context, options
    )
    error = writer.hasError()
    message = writer.errorMessage()
    del writer  # closes the file
    if error != QgsVectorFileWriter.NoError:
        raise OutputLayerError(
            f"cannot write the output GeoPackage {path}: {message}; choose another one in ROS-SAM settings"
        )
    layer = QgsVectorLayer(uri, OUTPUT_LAYER_NAME, "ogr")
    if not layer.isValid():
        raise OutputLayerError(f"cannot open {uri} after creating it; choose another output GeoPackage")
    return layer


def project_gpkg_layer(path: str) -> QgsVectorLayer | None:
    """The project's layer showing ``rossam_objects`` of the GeoPackage ``path``, if one is loaded."""
    wanted = os.path.normcase(os.path.abspath(path))
    registry = QgsProviderRegistry.instance()
    for layer in QgsProject.instance().mapLayers().values():
        if not isinstance(layer, QgsVectorLayer) or layer.providerType() != "ogr":
            continue
        parts = registry.decodeUri("ogr", layer.source())
        source = os.path.normcase(os.path.abspath(str(parts.get("path") or "")))
        if source == wanted and parts.get("layerName") == GPKG_LAYER_NAME:
            return layer
    return None


def resolve_output_layer(
    crs: QgsCoordinateReferenceSystem, ask_path: AskPath, schema: Mapping[str, str]
) -> tuple[QgsVectorLayer, str]:
    """The layer new results go to, and a warning for the message bar ("" when none).

    Args:
        crs: CRS for a new layer (the raster's).
        ask_path: asks the user for a GeoPackage path (None: declined); called at most once per project.
        schema: the backend's output schema (field -> type), the fields of a new layer.

    Raises:
        OutputLayerError: the GeoPackage cannot be written.
    """
    project = QgsProject.instance()
    chosen = project.mapLayer(output_layer_id()) if output_layer_id() else None
    if isinstance(chosen, QgsVectorLayer) and is_output_candidate(chosen):
        return chosen, ""
    path = gpkg_path()
    if not path and not project_entry(PROJECT_ASKED_KEY):
        set_project_entry(PROJECT_ASKED_KEY, "1")
        path = ask_path() or ""
        if path and not path.lower().endswith(".gpkg"):
            path += ".gpkg"
        set_project_entry(PROJECT_GPKG_KEY, path)
    if path:
        layer = project_gpkg_layer(path)
        if layer is None:
            layer = open_or_create_gpkg_layer(path, crs, schema)
            apply_outline_style(layer, PluginSettings.load().min_score)
            project.addMapLayer(layer)
        return layer, ""
    for candidate in project.mapLayersByName(TEMPORARY_LAYER_NAME):
        if isinstance(candidate, QgsVectorLayer) and candidate.providerType() == "memory":
            return candidate, ""
    layer = QgsVectorLayer("MultiPolygon", TEMPORARY_LAYER_NAME, "memory")
    if crs.isValid():
        layer.setCrs(crs)
    layer.dataProvider().addAttributes(list(result_fields(schema)))
    layer.updateFields()
    apply_outline_style(layer, PluginSettings.load().min_score)
    project.addMapLayer(layer)
    warning = (
        "results go to the temporary layer 'ROS-SAM objects (temporary)' and are lost when QGIS closes; "
        "choose an output GeoPackage in ROS-SAM settings to keep them"
    )
    return layer, warning
