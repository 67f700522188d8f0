"""Scores on the canvas: results scored below the threshold of the settings are outlined dashed (restyled
when the threshold changes) and, the threshold going to the backend as min_score, get the status low_score."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

from qgis.core import Qgis, QgsFeature, QgsRenderContext
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor

from tests.qgis_plugin.conftest import backend_program, wait_until
from tests.qgis_plugin.helpers import load_raster, two_rect, write_two_objects_raster


def save_settings(**values) -> None:
    from rossam_geo_qgis.settings import PluginSettings

    PluginSettings(**{"backend": str(backend_program()), "device": "cpu", **values}).save()


def segment(plugin, rect):
    plugin.controller.segment_rect(rect)
    wait_until(
        lambda: not plugin.controller.tasks and plugin.controller.last_layer is not None, timeout_s=180
    )
    return plugin.controller.last_layer


def outline_styles(layer) -> dict[float, Qt.PenStyle]:
    """Score -> pen style of the top outline the layer's renderer draws each feature with."""
    context = QgsRenderContext()
    renderer = layer.renderer().clone()
    renderer.startRender(context, layer.fields())
    styles = {}
    for feature in layer.getFeatures():
        (symbol,) = renderer.symbolsForFeature(feature, context)
        styles[round(feature["score"], 3)] = symbol.symbolLayer(1).strokeStyle()
    renderer.stopRender(context)
    return styles


def load_two_objects(qgis_iface, qgis_canvas, tmp_path) -> None:
    """The refinement raster, with the canvas in its CRS (drawn boxes are in the canvas CRS)."""
    raster = load_raster(write_two_objects_raster(tmp_path / "two.tif"), qgis_iface)
    qgis_canvas.setDestinationCrs(raster.crs())


def test_low_scores_are_outlined_dashed_and_a_new_threshold_restyles(
    plugin, qgis_iface, qgis_canvas, tmp_path
):
    save_settings(engine="box", min_score=0.5)
    load_two_objects(qgis_iface, qgis_canvas, tmp_path)
    layer = segment(plugin, two_rect(20.2, 30.2, 55.8, 61.8))
    (result,) = list(layer.getFeatures())
    assert result["score"] == 1.0 and result["status"] == "ok"  # the box engine has no confidence
    low = QgsFeature(result)
    low["fid"], low["score"] = None, 0.3
    assert layer.dataProvider().addFeatures([low])[0]
    assert outline_styles(layer) == {1.0: Qt.SolidLine, 0.3: Qt.DashLine}
    assert [r.label() for r in layer.renderer().rootRule().children()] == [
        "score below 0.5",
        "ROS-SAM result",
    ]

    # a colour chosen by the user stays when the threshold changes; only the rules' filters follow it
    layer.renderer().rootRule().children()[1].symbol().symbolLayer(1).setStrokeColor(QColor("blue"))
    save_settings(engine="box", min_score=0.2)
    plugin.settings_changed()
    assert outline_styles(layer) == {1.0: Qt.SolidLine, 0.3: Qt.SolidLine}
    kept = layer.renderer().rootRule().children()[1].symbol().symbolLayer(1).strokeColor()
    assert kept.name() == "#0000ff"
    assert layer.renderer().rootRule().children()[0].label() == "score below 0.2"

    # a layer the user restyled completely is left alone
    from qgis.core import QgsFillSymbol, QgsSingleSymbolRenderer

    layer.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple({"color": "red"})))
    save_settings(engine="box", min_score=0.9)
    plugin.settings_changed()
    assert isinstance(layer.renderer(), QgsSingleSymbolRenderer)


def test_the_threshold_goes_to_the_backend_as_min_score(plugin, qgis_iface, qgis_canvas, tmp_path):
    load_two_objects(qgis_iface, qgis_canvas, tmp_path)
    rect = two_rect(12.2, 22.2, 99.8, 69.8)
    save_settings(engine="rossam", min_score=1.0)  # a predicted IoU is below 1
    assert plugin.controller.request_for(plugin.controller.raster_layer(), rect).options["min_score"] == 1.0
    layer = segment(plugin, rect)
    (feature,) = list(layer.getFeatures())
    assert feature["status"] == "low_score" and feature["score"] < 1.0
    assert "below min_score 1" in feature["reason"]
    assert any("box low_score" in m for m in qgis_iface.messageBar().get_messages(Qgis.Info))
    assert outline_styles(layer) == {round(feature["score"], 3): Qt.DashLine}

    save_settings(engine="grabcut", min_score=1.0)  # GrabCut always scores 1.0: never below
    plugin.settings_changed()
    segment(plugin, rect)
    statuses = sorted(f["status"] for f in layer.getFeatures())
    assert statuses == ["low_score", "ok"]


def test_the_dialog_sets_the_threshold(plugin):
    from rossam_geo_qgis.settings import PluginSettings
    from rossam_geo_qgis.settings_dialog import SettingsDialog

    dialog = SettingsDialog(test_on_open=False)
    assert dialog.min_score.value() == PluginSettings.load().min_score
    assert "low_score" in dialog.min_score.toolTip() and "dashed" in dialog.min_score.toolTip()
    dialog.min_score.setValue(0.35)
    dialog.accept()
    assert PluginSettings.load().min_score == pytest.approx(0.35)
