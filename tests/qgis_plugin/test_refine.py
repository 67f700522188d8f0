"""Refining a box with clicks under real QGIS: the preview follows each click (one backend call per click with
the box and all clicks so far), Enter writes it, Esc drops it, a new click cancels the pending request; with
GrabCut and with the bundled ROS-SAM model through the backend."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

import csv
import os
import shutil
import subprocess

from qgis.core import (
    QgsCoordinateTransform,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor

from tests.qgis_plugin.conftest import REPO, backend_cli, backend_program, wait_until
from tests.qgis_plugin.helpers import (
    TWO_A,
    TWO_B,
    TWO_BOX_PX,
    click,
    covered,
    drag,
    load_raster,
    press_key,
    to_screen,
    two_map_point,
    two_rect,
    write_two_objects_raster,
)

ON_B, ON_A = (84.5, 46.5), (38.5, 46.5)  # pixel positions of clicks on B and on A


@pytest.fixture
def two_objects(qgis_iface, qgis_canvas, tmp_path):
    """The refinement raster, loaded and shown whole on a 640 x 480 canvas in its own CRS."""
    raster = load_raster(write_two_objects_raster(tmp_path / "two.tif"), qgis_iface)
    qgis_canvas.resize(640, 480)
    qgis_canvas.setDestinationCrs(raster.crs())
    qgis_canvas.setExtent(raster.extent())
    qgis_canvas.refresh()
    return raster


def use_engine(engine: str) -> None:
    from rossam_geo_qgis.settings import PluginSettings

    PluginSettings(backend=str(backend_program()), engine=engine, device="cpu").save()


def answered(refinement, timeout_s: float = 60.0):
    """Wait for the latest answer; the preview polygon (canvas = raster CRS)."""
    wait_until(lambda: refinement.reply is not None and not refinement.pending, timeout_s=timeout_s)
    return refinement.preview_geometry()


def test_a_click_off_the_object_removes_its_part_and_a_click_on_another_object_adds_it(
    plugin, qgis_iface, qgis_canvas, two_objects
):
    use_engine("grabcut")
    plugin.class_box.setCurrentText("ship")
    plugin.box_action.trigger()
    tool = qgis_canvas.mapTool()
    x0, y0, x1, y1 = TWO_BOX_PX
    corners = (two_map_point(x0, y0), two_map_point(x1, y1))
    drag(tool, qgis_canvas, *(to_screen(qgis_canvas, p.x(), p.y()) for p in corners))
    refinement = plugin.controller.refinement
    box_only = answered(refinement)
    assert covered(box_only, TWO_A) > 0.95 and covered(box_only, TWO_B) == 0

    click(tool, qgis_canvas, to_screen(qgis_canvas, *two_map_point(*ON_B)))  # left: on the object
    with_b = answered(refinement)
    assert covered(with_b, TWO_A) > 0.95 and covered(with_b, TWO_B) > 0.95

    click(tool, qgis_canvas, to_screen(qgis_canvas, *two_map_point(*ON_A)), Qt.RightButton)  # off it
    without_a = answered(refinement)
    assert covered(without_a, TWO_A) == 0 and covered(without_a, TWO_B) > 0.95
    assert refinement.requests == 3 and [label for _, label in refinement.clicks] == [1, 0]
    assert plugin.controller.last_layer is None  # a preview: nothing written yet

    press_key(tool, Qt.Key_Return)
    layer = plugin.controller.last_layer
    (feature,) = list(layer.getFeatures())
    assert feature.geometry().isGeosEqual(without_a) or feature.geometry().equals(without_a)
    assert feature["class"] == "ship" and feature["prompt_id"] == 0 and feature["engine"] == "grabcut"
    assert refinement.finished and refinement.preview_geometry().isEmpty()


def test_esc_drops_the_preview_and_a_new_click_cancels_the_pending_request(
    plugin, qgis_iface, qgis_canvas, two_objects
):
    use_engine("grabcut")
    controller, client = plugin.controller, plugin.client
    refinement = controller.refine_rect(two_rect(*TWO_BOX_PX))
    answered(refinement)
    pid = client.pid()

    controller.refine_click(two_map_point(*ON_B), 1)
    first = refinement.task
    controller.refine_click(two_map_point(*ON_A), 0)
    assert first.isCanceled() and refinement.task is not first
    refined = answered(refinement)
    assert covered(refined, TWO_A) == 0 and covered(refined, TWO_B) > 0.95  # the answer to both clicks
    assert client.pid() == pid  # a cancelled refinement request leaves the backend running

    plugin.box_action.trigger()
    press_key(qgis_canvas.mapTool(), Qt.Key_Escape)
    assert refinement.finished and refinement.preview_geometry().isEmpty()
    assert controller.refinement is None and controller.last_layer is None  # nothing written


def test_a_layer_being_edited_gets_the_accepted_result_as_one_undoable_edit(
    plugin, qgis_iface, qgis_canvas, two_objects
):
    use_engine("grabcut")
    controller = plugin.controller
    first = controller.refine_rect(two_rect(*TWO_BOX_PX))
    answered(first)
    controller.accept_refinement()
    layer = controller.last_layer
    layer.startEditing()
    second = controller.refine_rect(two_rect(*TWO_BOX_PX))
    answered(second)
    controller.refine_click(two_map_point(*ON_B), 1)
    answered(second)
    controller.accept_refinement()
    assert layer.featureCount() == 2
    layer.undoStack().undo()
    assert layer.featureCount() == 1
    layer.rollBack()


def test_the_bundled_rossam_model_refines_through_the_backend_as_the_command_line_does(
    plugin, qgis_iface, qgis_canvas, two_objects, tmp_path
):
    """A SAM-family engine: the click goes with the box to the backend, which adds the clicked object."""
    use_engine("rossam")
    controller = plugin.controller
    box = two_rect(*TWO_BOX_PX)
    refinement = controller.refine_rect(box)
    box_only = answered(refinement, timeout_s=180)
    on_b = two_map_point(*ON_B)
    controller.refine_click(on_b, 1)
    refined = answered(refinement, timeout_s=180)
    assert covered(box_only, TWO_B) < 0.05 and covered(refined, TWO_B) > 0.9

    # the same box and click through `rossam-geo segment --points` give the same polygon
    with open(tmp_path / "box.csv", "w", newline="") as f:
        csv.writer(f).writerows([["xmin", "ymin", "xmax", "ymax"], [box.xMinimum(), box.yMinimum(),
                                 box.xMaximum(), box.yMaximum()]])  # fmt: skip
    with open(tmp_path / "click.csv", "w", newline="") as f:
        csv.writer(f).writerows([["prompt_id", "x", "y", "label"], [1, on_b.x(), on_b.y(), 1]])
    out = tmp_path / "cli.gpkg"
    done = subprocess.run(
        backend_cli(
            "segment", str(two_objects.source()), str(tmp_path / "box.csv"), "--prompts-crs", "EPSG:32633",
            "--points", str(tmp_path / "click.csv"), "-o", str(out), "--engine", "rossam", "--device", "cpu",
        ),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (expected,) = [f.geometry() for f in QgsVectorLayer(str(out), "cli", "ogr").getFeatures()]
    assert refined.symDifference(expected).area() < 1e-6 * expected.area()


def test_screenshot_of_a_refinement_on_the_example_scene(plugin, qgis_iface, qgis_canvas, tmp_path):
    """A box around two airplanes of the example airfield gives the left one; a click on the right one and
    two clicks off the object on the left one give the right one. Writes docs/images/qgis_refine.png with
    ROSSAM_WRITE_DOCS_IMAGES=1."""
    example = REPO / "examples" / "airfield.tif"
    use_engine("grabcut")
    raster = load_raster(example, qgis_iface)
    left, right = airplane_boxes(raster, example, (0, 1))
    box = QgsRectangle(left)
    box.combineExtentWith(right)
    box.grow(1.5)
    qgis_canvas.resize(900, 480)
    qgis_canvas.setDestinationCrs(raster.crs())
    shown = QgsRectangle(box)
    shown.grow(12)
    qgis_canvas.setExtent(shown)
    controller = plugin.controller

    refinement = controller.refine_rect(box)
    box_only = answered(refinement)
    assert box_only.intersects(QgsGeometry.fromRect(left)) and not box_only.intersects(
        QgsGeometry.fromRect(right)
    )
    to_map = raster_to_map(raster)
    for col, row, label in ((995.5, 640.5, 1), (880.5, 650.5, 0), (856.5, 652.5, 0)):
        controller.refine_click(to_map(col, row), label)
    refined = answered(refinement)
    assert refined.intersects(QgsGeometry.fromRect(right)) and not refined.intersects(
        QgsGeometry.fromRect(left)
    )

    qgis_canvas.setLayers([raster])
    window = qgis_canvas.window()  # the canvas renders at its size only once its window is shown
    window.show()
    window.resize(900, 480)
    wait_until(lambda: qgis_canvas.mapSettings().outputSize() == qgis_canvas.viewport().size())
    qgis_canvas.setExtent(shown)
    wait_until(lambda: not qgis_canvas.isDrawing())
    rendered: list[bool] = []
    qgis_canvas.mapCanvasRefreshed.connect(lambda: rendered.append(True))
    qgis_canvas.refreshAllLayers()
    wait_until(lambda: bool(rendered) and not qgis_canvas.isDrawing())
    image = qgis_canvas.grab().toImage()
    window.hide()
    out = tmp_path / "qgis_refine.png"
    assert image.save(str(out), "PNG")
    colours = [
        QColor(image.pixel(x, y)) for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
    ]
    cyan = sum(1 for c in colours if c.red() < 60 and c.green() > 180 and c.blue() > 200)
    green = sum(1 for c in colours if c.red() < 90 and c.green() > 160 and c.blue() < 90)
    red = sum(1 for c in colours if c.red() > 200 and c.green() < 80 and c.blue() < 80)
    grey = sum(1 for c in colours if 110 < c.red() < 200 and abs(c.red() - c.blue()) < 12)
    assert cyan > 100 and green > 5 and red > 10  # the preview's outline and both kinds of click
    assert grey > len(colours) // 2  # over the apron of the example scene
    if os.environ.get("ROSSAM_WRITE_DOCS_IMAGES"):
        shutil.copyfile(out, REPO / "docs" / "images" / "qgis_refine.png")


def airplane_boxes(raster, example, indexes):
    """The boxes of the example scene's GeoJSON at ``indexes``, in the raster's CRS."""
    boxes = QgsVectorLayer(str(example.with_name("airfield_boxes.geojson")), "boxes", "ogr")
    to_raster = QgsCoordinateTransform(boxes.crs(), raster.crs(), QgsProject.instance())
    features = list(boxes.getFeatures())
    return [to_raster.transformBoundingBox(features[i].geometry().boundingBox()) for i in indexes]


def raster_to_map(raster):
    """(col, row) pixel position of ``raster`` -> its map point (a north-up raster)."""
    extent = raster.extent()
    x_res, y_res = raster.rasterUnitsPerPixelX(), raster.rasterUnitsPerPixelY()
    return lambda col, row: QgsPointXY(extent.xMinimum() + col * x_res, extent.yMaximum() - row * y_res)
