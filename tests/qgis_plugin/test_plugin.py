"""The plugin under real QGIS: load/unload, the box map tool, processing, backend crash recovery, a render."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

import os
import shutil
import signal
from pathlib import Path

from qgis.core import (
    NULL,
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QPoint, Qt

from tests.qgis_plugin.conftest import REPO, backend_program, wait_until
from tests.qgis_plugin.helpers import (
    UTM_ORIGIN,
    UTM_PIXEL_M,
    covered_pixels,
    drag,
    expected_utm_polygon,
    flush_deletes,
    load_raster,
    plugin_toolbars,
    press_key,
)


# ---------------------------------------------------------------------------------------------- load/unload
def test_plugin_loads_and_unloads_cleanly(qgis_iface, qgis_new_project, backend_settings, monkeypatch):
    from rossam_geo_qgis import classFactory

    menu: list[tuple[str, str]] = []
    monkeypatch.setattr(
        qgis_iface, "addPluginToMenu", lambda name, action: menu.append((name, action.text()))
    )
    registry = QgsApplication.processingRegistry()
    providers_before = {p.id() for p in registry.providers()}
    for _ in range(2):  # a second load after unload must work the same
        menu.clear()
        plugin = classFactory(qgis_iface)
        plugin.initGui()
        # the map tool is in the Plugins menu too, not only on the toolbar
        assert menu == [("ROS-SAM", "Box to polygon"), ("ROS-SAM", "ROS-SAM settings…")]
        assert registry.providerById("rossamgeo") is not None
        assert registry.algorithmById("rossamgeo:segmentboxes") is not None
        assert len(plugin_toolbars(qgis_iface)) == 1
        assert [a.text() for a in plugin.toolbar.actions()][:2] == ["Box to polygon", "ROS-SAM settings…"]
        plugin.box_action.trigger()
        assert qgis_iface.mapCanvas().mapTool() is plugin.map_tool
        actions, tool = list(plugin.actions), plugin.map_tool

        plugin.unload()
        flush_deletes()
        assert {p.id() for p in registry.providers()} == providers_before
        assert plugin_toolbars(qgis_iface) == []
        assert all(sip.isdeleted(a) for a in actions)
        assert sip.isdeleted(tool)
        assert qgis_iface.mapCanvas().mapTool() is None
        assert plugin.client is None and plugin.provider is None and plugin.map_tool is None


# ------------------------------------------------------------------------------------------------ map tool
def test_dragging_a_box_on_a_canvas_in_another_crs_adds_one_polygon_in_the_raster_crs(
    plugin, qgis_iface, qgis_canvas, utm_raster, saved_project
):
    raster = load_raster(utm_raster, qgis_iface)
    web_mercator = QgsCoordinateReferenceSystem("EPSG:3857")
    qgis_canvas.resize(600, 400)
    qgis_canvas.setDestinationCrs(web_mercator)
    to_canvas = QgsCoordinateTransform(raster.crs(), web_mercator, QgsProject.instance())
    qgis_canvas.setExtent(to_canvas.transformBoundingBox(raster.extent()))
    qgis_canvas.refresh()

    plugin.box_action.trigger()
    tool = qgis_canvas.mapTool()
    assert tool is plugin.map_tool
    # screen points over raster pixels (12.3, 8.4) and (31.6, 22.7) (column, row)
    to_screen = qgis_canvas.getCoordinateTransform()
    screen = []
    for col, row in ((12.3, 8.4), (31.6, 22.7)):
        map_point = to_canvas.transform(UTM_ORIGIN[0] + col * UTM_PIXEL_M, UTM_ORIGIN[1] - row * UTM_PIXEL_M)
        device = to_screen.transform(map_point)
        screen.append(QPoint(round(device.x()), round(device.y())))
    drag(tool, qgis_canvas, *screen)

    controller = plugin.controller
    refinement = controller.refinement
    wait_until(lambda: refinement.reply is not None and not refinement.pending)  # shown as a preview
    assert controller.last_layer is None
    press_key(tool, Qt.Key_Enter)  # Enter keeps it
    layer = controller.last_layer
    assert layer.name() == "ROS-SAM objects"
    assert layer.crs().authid() == "EPSG:32633"
    assert layer.source().startswith(str(saved_project.with_name("project_rossam.gpkg")))
    features = list(layer.getFeatures())
    assert len(features) == 1
    assert features[0]["status"] == "ok" and features[0]["engine"] == "box"

    drawn = QgsRectangle(tool.toMapCoordinates(screen[0]), tool.toMapCoordinates(screen[1]))
    drawn.normalize()
    expected = expected_utm_polygon(
        QgsCoordinateTransform(web_mercator, raster.crs(), QgsProject.instance()).transformBoundingBox(drawn)
    )
    geometry = features[0].geometry()
    assert geometry.isMultipart()
    assert geometry.isGeosEqual(QgsGeometry.fromMultiPolygonXY([expected.asPolygon()])), geometry.asWkt()
    # the result is on disk already: no edit mode, and a fresh reader of the GeoPackage sees it
    assert not layer.isEditable()
    reread = QgsVectorLayer(layer.source(), "reread", "ogr")
    assert [f.geometry().isGeosEqual(geometry) for f in reread.getFeatures()] == [True]
    plugin.box_action.trigger()
    assert qgis_canvas.mapTool() is None


def test_box_on_a_plain_image_is_converted_between_qgis_y_up_and_pixel_y_down(
    plugin, qgis_iface, qgis_canvas, png_frame
):
    raster = load_raster(png_frame, qgis_iface)
    assert raster.extent() == QgsRectangle(0, -30, 50, 0)  # QGIS shows plain images with y up
    qgis_canvas.resize(500, 300)
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem())
    qgis_canvas.setExtent(raster.extent())
    plugin.box_action.trigger()
    tool = qgis_canvas.mapTool()
    to_screen = qgis_canvas.getCoordinateTransform()
    screen = []
    for col, row in ((4.3, 5.2), (20.8, 17.6)):
        device = to_screen.transform(col, -row)
        screen.append(QPoint(round(device.x()), round(device.y())))
    drag(tool, qgis_canvas, *screen)

    controller = plugin.controller
    wait_until(lambda: controller.refinement.reply is not None and not controller.refinement.pending)
    press_key(tool, Qt.Key_Return)
    (feature,) = list(controller.last_layer.getFeatures())
    assert feature["area_unit"] == "px"
    drawn = QgsRectangle(tool.toMapCoordinates(screen[0]), tool.toMapCoordinates(screen[1]))
    drawn.normalize()
    c0, c1 = covered_pixels(drawn.xMinimum(), drawn.xMaximum())
    r0, r1 = covered_pixels(-drawn.yMaximum(), -drawn.yMinimum())
    expected = QgsGeometry.fromRect(QgsRectangle(c0, -r1, c1, -r0))
    assert feature.geometry().isGeosEqual(QgsGeometry.fromMultiPolygonXY([expected.asPolygon()])), (
        feature.geometry().asWkt()
    )
    assert feature["area"] == pytest.approx((c1 - c0) * (r1 - r0))


# ---------------------------------------------------------------------------------------------- processing
def test_processing_algorithm_gives_one_polygon_per_box(plugin, qgis_processing, qgis_iface, utm_raster):
    import processing

    raster = load_raster(utm_raster, qgis_iface)
    boxes = QgsVectorLayer("Polygon?crs=EPSG:4326&field=name:string&field=class:string", "boxes", "memory")
    to_wgs84 = QgsCoordinateTransform(
        raster.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance()
    )
    x0, y0 = UTM_ORIGIN
    pixel_boxes = [(2, 3, 10, 9), (20, 5, 33, 30), (500, 500, 510, 510)]  # the last one is off the raster
    features = []
    for c0, r0, c1, r1 in pixel_boxes:
        # slightly inside the pixel edges, so the same pixel centres are covered after reprojection
        utm = QgsRectangle(x0 + c0 * 10 + 0.5, y0 - r1 * 10 + 0.5, x0 + c1 * 10 - 0.5, y0 - r0 * 10 - 0.5)
        feature = QgsFeature(boxes.fields())
        feature.setGeometry(QgsGeometry.fromRect(to_wgs84.transformBoundingBox(utm)))
        feature["name"] = f"box {c0}"
        feature["class"] = "ship" if c0 == 2 else None
        features.append(feature)
    boxes.dataProvider().addFeatures(features)

    result = processing.run(
        "rossamgeo:segmentboxes",
        {
            "RASTER": raster,
            "BOXES": boxes,
            "ENGINE": "box",
            "DEVICE": 1,
            "CROP_SIZE": 256,
            "OUTPUT": "memory:",
        },
    )
    output = result["OUTPUT"]
    if isinstance(output, str):
        output = QgsProcessingContextLayer(output)
    out_features = sorted(output.getFeatures(), key=lambda f: f["box_fid"])
    assert output.crs().authid() == "EPSG:32633"
    assert len(out_features) == 3
    for feature, (c0, r0, c1, r1) in zip(out_features[:2], pixel_boxes[:2], strict=True):
        assert feature["status"] == "ok"
        expected = QgsGeometry.fromRect(QgsRectangle(x0 + c0 * 10, y0 - r1 * 10, x0 + c1 * 10, y0 - r0 * 10))
        assert feature.geometry().isGeosEqual(QgsGeometry.fromMultiPolygonXY([expected.asPolygon()]))
        assert feature["crop_size"] == 256
    assert out_features[2]["status"] == "skipped"
    assert out_features[2].geometry().isEmpty()
    # the prompt id is the box feature's id (sent as the request's prompt_ids), as with rossam-geo segment
    assert [f["prompt_id"] for f in out_features] == [f["box_fid"] for f in out_features]
    # without a class field parameter the box layer's "class" field is carried; NULL stays NULL
    assert [f["class"] for f in out_features] == ["ship", NULL, NULL]

    chosen = processing.run(
        "rossamgeo:segmentboxes",
        {"RASTER": raster, "BOXES": boxes, "CLASS_FIELD": "name", "ENGINE": "box", "OUTPUT": "memory:"},
    )["OUTPUT"]
    chosen = QgsProcessingContextLayer(chosen) if isinstance(chosen, str) else chosen
    assert sorted(f["class"] for f in chosen.getFeatures()) == ["box 2", "box 20", "box 500"]


def test_processing_defaults_follow_the_saved_settings(plugin, qgis_processing):
    from rossam_geo_qgis.settings import DEVICES, PluginSettings

    registry = QgsApplication.processingRegistry()
    for device, engine in (("cuda", "grabcut"), ("cpu", "sam")):
        PluginSettings(backend=str(backend_program()), engine=engine, device=device, crop_size=320).save()
        algorithm = registry.createAlgorithmById("rossamgeo:segmentboxes")
        assert algorithm.parameterDefinition("DEVICE").defaultValue() == DEVICES.index(device)
        assert algorithm.parameterDefinition("ENGINE").defaultValue() == engine
        assert algorithm.parameterDefinition("CROP_SIZE").defaultValue() == 320


def test_processing_refuses_an_engine_the_backend_does_not_offer(plugin, qgis_processing, utm_raster):
    import processing
    from qgis.core import QgsProcessingException

    boxes = QgsVectorLayer("Polygon?crs=EPSG:32633", "boxes", "memory")
    feature = QgsFeature(boxes.fields())
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(500_020, 4_999_700, 500_090, 4_999_780)))
    boxes.dataProvider().addFeatures([feature])
    with pytest.raises(QgsProcessingException, match="unknown engine 'sam2'; the backend offers: .*grabcut"):
        processing.run(
            "rossamgeo:segmentboxes",
            {"RASTER": str(utm_raster), "BOXES": boxes, "ENGINE": "sam2", "OUTPUT": "memory:"},
        )


def QgsProcessingContextLayer(layer_id: str) -> QgsVectorLayer:  # noqa: N802
    layer = QgsProject.instance().mapLayer(layer_id)
    assert layer is not None, layer_id
    return layer


# ------------------------------------------------------------------------------------------- crash recovery
def test_killed_backend_is_reported_and_restarts_on_the_next_request(
    plugin, qgis_iface, qgis_canvas, utm_raster
):
    raster = load_raster(utm_raster, qgis_iface)
    qgis_canvas.setDestinationCrs(raster.crs())
    controller, client = plugin.controller, plugin.client
    rect = QgsRectangle(500_050.0 + 2, 4_999_800.0 + 2, 500_150.0 - 2, 4_999_900.0 - 2)

    controller.segment_rect(rect)
    wait_until(lambda: not controller.tasks and controller.last_layer is not None)
    assert controller.last_layer.featureCount() == 1
    pid = client.pid()
    assert pid is not None and client.starts == 1

    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: client.state == "crashed")
    critical = qgis_iface.messageBar().get_messages(Qgis.Critical)
    assert any("stopped unexpectedly" in m for m in critical), critical
    assert "crashed" in plugin.status_action.toolTip()

    controller.segment_rect(rect)
    wait_until(lambda: not controller.tasks and controller.last_layer.featureCount() == 2)
    assert client.starts == 2 and client.pid() not in (None, pid)
    assert client.state == "ready"


def test_backend_that_cannot_start_shows_an_error(plugin, qgis_iface, qgis_canvas, utm_raster, tmp_path):
    from rossam_geo_qgis.settings import PluginSettings

    PluginSettings(backend=str(tmp_path / "no-such-rossam-geo"), engine="box").save()
    load_raster(utm_raster, qgis_iface)
    controller = plugin.controller
    controller.segment_rect(QgsRectangle(500_050.0, 4_999_800.0, 500_150.0, 4_999_900.0))
    wait_until(lambda: not controller.tasks)
    critical = qgis_iface.messageBar().get_messages(Qgis.Critical)
    assert any("cannot start the ROS-SAM backend" in m and "no-such-rossam-geo" in m for m in critical), (
        critical
    )


# ------------------------------------------------------------------------------------------------- render
def test_render_of_a_raster_with_result_polygons(plugin, qgis_iface, qgis_canvas, utm_raster, tmp_path):
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor
    from rossam_geo_qgis.settings import PluginSettings

    PluginSettings(backend=str(backend_program()), engine="grabcut", device="cpu").save()
    example = REPO / "examples" / "airfield.tif"
    raster = load_raster(example if example.exists() else utm_raster, qgis_iface)
    qgis_canvas.setDestinationCrs(raster.crs())
    controller = plugin.controller
    extent = raster.extent()
    rects = demo_boxes(raster, example)
    for rect in rects:
        controller.segment_rect(rect)
    wait_until(lambda: not controller.tasks and controller.last_layer is not None, timeout_s=120)
    layer = controller.last_layer
    assert layer.featureCount() == len(rects)

    settings = QgsMapSettings()
    settings.setLayers([layer, raster])
    settings.setDestinationCrs(raster.crs())
    focus = QgsRectangle()
    for feature in layer.getFeatures():
        focus.combineExtentWith(feature.geometry().boundingBox())
    focus.grow(max(focus.width(), focus.height()) * 0.15)
    settings.setExtent(focus if example.exists() else extent)
    shown = focus if example.exists() else extent
    settings.setOutputSize(QSize(900, max(1, round(900 * shown.height() / shown.width()))))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    out = tmp_path / "qgis_canvas.png"
    assert image.save(str(out), "PNG")
    # the default style's yellow outline is in the picture
    yellow = sum(
        1
        for y in range(0, image.height(), 2)
        for x in range(0, image.width(), 2)
        if QColor(image.pixel(x, y)).red() > 200
        and QColor(image.pixel(x, y)).green() > 200
        and QColor(image.pixel(x, y)).blue() < 80
    )
    assert yellow > 50
    if os.environ.get("ROSSAM_WRITE_DOCS_IMAGES"):
        target = REPO / "docs" / "images" / "qgis_canvas.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, target)


def demo_boxes(raster: QgsRasterLayer, example: Path) -> list[QgsRectangle]:
    """Boxes around the objects of the example scene (from its GeoJSON), else two boxes on the test raster."""
    geojson = example.with_name("airfield_boxes.geojson")
    if example.exists() and geojson.exists():
        boxes = QgsVectorLayer(str(geojson), "boxes", "ogr")
        to_raster = QgsCoordinateTransform(boxes.crs(), raster.crs(), QgsProject.instance())
        return [to_raster.transformBoundingBox(f.geometry().boundingBox()) for f in boxes.getFeatures()]
    x0, y0 = UTM_ORIGIN
    return [
        QgsRectangle(x0 + 52, y0 - 148, x0 + 198, y0 - 52),
        QgsRectangle(x0 + 302, y0 - 348, x0 + 498, y0 - 202),
    ]
