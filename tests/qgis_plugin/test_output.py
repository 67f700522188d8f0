"""Where map-tool results go and what they carry: a GeoPackage kept on disk, outline style, the active class,
unique increasing prompt ids, an output list without input layers."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

from qgis.core import NULL, Qgis, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import Qt, QVariant

from tests.qgis_plugin.conftest import wait_until
from tests.qgis_plugin.helpers import load_raster

X0, Y0 = 500_000.0, 5_000_000.0


def box(col0: float, row0: float, col1: float, row1: float) -> QgsRectangle:
    return QgsRectangle(X0 + col0 * 10, Y0 - row1 * 10, X0 + col1 * 10, Y0 - row0 * 10)


def segment(plugin, *rects: QgsRectangle) -> QgsVectorLayer:
    for rect in rects:
        plugin.controller.segment_rect(rect)
    wait_until(lambda: not plugin.controller.tasks and plugin.controller.last_layer is not None)
    return plugin.controller.last_layer


def test_boxes_carry_the_active_class_and_unique_increasing_prompt_ids(
    plugin, qgis_iface, qgis_canvas, utm_raster
):
    load_raster(utm_raster, qgis_iface)
    qgis_canvas.setDestinationCrs(QgsProject.instance().mapLayersByName("utm")[0].crs())
    plugin.class_box.setCurrentText("ship")
    layer = segment(plugin, box(2.2, 3.2, 9.8, 8.8))
    plugin.class_box.setCurrentText("")
    layer = segment(plugin, box(20.2, 5.2, 32.8, 29.8))
    plugin.class_box.setCurrentText("airplane")
    layer = segment(plugin, box(40.2, 5.2, 50.8, 20.8))

    rows = sorted((int(f["prompt_id"]), f["class"]) for f in layer.getFeatures())
    assert [r[0] for r in rows] == [0, 1, 2]
    assert rows[0][1] == "ship" and rows[2][1] == "airplane"
    assert rows[1][1] == NULL

    # a new session (plugin reloaded) continues after the largest id in the layer
    plugin.controller._next_ids.clear()
    layer = segment(plugin, box(2.2, 20.2, 9.8, 30.8))
    assert max(int(f["prompt_id"]) for f in layer.getFeatures()) == 3


def test_results_are_kept_in_a_geopackage_with_an_outline_style(
    plugin, qgis_iface, utm_raster, saved_project
):
    load_raster(utm_raster, qgis_iface)
    layer = segment(plugin, box(2.2, 3.2, 9.8, 8.8))
    path = saved_project.with_name("project_rossam.gpkg")
    assert layer.providerType() == "ogr" and layer.source() == f"{path}|layername=rossam_objects"
    assert not layer.isEditable()
    assert QgsVectorLayer(f"{path}|layername=rossam_objects", "reread", "ogr").featureCount() == 1
    # the fields and their types are the backend's output schema (its version reply), in order
    schema = plugin.client.info["output_schema"]
    kinds = {"integer": QVariant.LongLong, "real": QVariant.Double, "string": QVariant.String}
    fields = [(f.name(), f.type()) for f in layer.fields() if f.name() != "fid"]
    assert fields == [(name, kinds[kind]) for name, kind in schema.items()]
    assert schema["prompt_id"] == "integer" and isinstance(next(layer.getFeatures())["prompt_id"], int)
    flagged, kept = (rule.symbol() for rule in layer.renderer().rootRule().children())
    for symbol in (flagged, kept):
        assert symbol.symbolLayerCount() == 2
        for index in range(2):
            assert symbol.symbolLayer(index).brushStyle() == Qt.NoBrush  # outline only: the object shows
    assert kept.symbolLayer(1).strokeColor().name() == "#ffdc00"
    assert flagged.symbolLayer(1).strokeStyle() == Qt.DashLine  # low scores (see test_scores.py)


def test_a_layer_being_edited_gets_results_as_undoable_edits(plugin, qgis_iface, utm_raster):
    load_raster(utm_raster, qgis_iface)
    layer = segment(plugin, box(2.2, 3.2, 9.8, 8.8))
    layer.startEditing()
    plugin.controller.segment_rect(box(20.2, 5.2, 32.8, 29.8))
    wait_until(lambda: not plugin.controller.tasks)
    assert layer.featureCount() == 2
    layer.undoStack().undo()
    assert layer.featureCount() == 1
    layer.rollBack()


def test_unsaved_project_asks_once_for_the_geopackage(plugin, qgis_iface, utm_raster, tmp_path):
    QgsProject.instance().setFileName("")
    load_raster(utm_raster, qgis_iface)
    asked = []
    plugin.controller.ask_path = lambda: asked.append(1) or str(tmp_path / "kept")
    segment(plugin, box(2.2, 3.2, 9.8, 8.8), box(20.2, 5.2, 32.8, 29.8))
    assert asked == [1]
    reread = QgsVectorLayer(f"{tmp_path / 'kept.gpkg'}|layername=rossam_objects", "reread", "ogr")
    assert reread.featureCount() == 2


def test_declining_the_question_gives_a_temporary_layer_and_says_so(plugin, qgis_iface, utm_raster):
    QgsProject.instance().setFileName("")
    load_raster(utm_raster, qgis_iface)
    plugin.controller.ask_path = lambda: None
    layer = segment(plugin, box(2.2, 3.2, 9.8, 8.8))
    assert layer.providerType() == "memory" and layer.name() == "ROS-SAM objects (temporary)"
    assert not layer.isEditable()
    warnings = qgis_iface.messageBar().get_messages(Qgis.Warning)
    assert any("lost when QGIS closes" in m for m in warnings), warnings
    plugin.controller.ask_path = lambda: pytest.fail("asked twice")
    assert segment(plugin, box(20.2, 5.2, 32.8, 29.8)).featureCount() == 2


def test_output_list_offers_result_layers_but_not_box_layers(plugin, qgis_iface, utm_raster):
    from rossam_geo_qgis.settings_dialog import SettingsDialog

    load_raster(utm_raster, qgis_iface)
    results = segment(plugin, box(2.2, 3.2, 9.8, 8.8))
    boxes = QgsVectorLayer("Polygon?crs=EPSG:32633&field=class:string", "boxes", "memory")
    QgsProject.instance().addMapLayer(boxes)
    dialog = SettingsDialog(test_on_open=False)
    offered = [dialog.output_layer.layer(i) for i in range(dialog.output_layer.count())]
    assert results in offered and boxes not in offered
    dialog.output_layer.setLayer(results)
    dialog.accept()
    from rossam_geo_qgis.settings import output_layer_id

    assert output_layer_id() == results.id()
