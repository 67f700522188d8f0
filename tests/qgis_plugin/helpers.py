"""Helpers of the QGIS plugin tests: loading rasters, dragging on the canvas, expected pixel polygons."""

from __future__ import annotations

import math
from pathlib import Path

from qgis.core import QgsApplication, QgsGeometry, QgsPointXY, QgsProject, QgsRasterLayer, QgsRectangle
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QEvent, QPoint, Qt
from qgis.PyQt.QtWidgets import QToolBar

UTM_ORIGIN = (500_000.0, 5_000_000.0)
UTM_PIXEL_M = 10.0


def flush_deletes() -> None:
    QgsApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    QgsApplication.processEvents()


def load_raster(path: Path, qgis_iface) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), path.stem)
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    qgis_iface.setActiveLayer(layer)
    return layer


def drag(tool, canvas, start: QPoint, end: QPoint) -> None:
    """Press at ``start``, move half way and to ``end``, release: what a user's drag delivers to the tool."""
    middle = QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2)
    tool.canvasPressEvent(
        QgsMapMouseEvent(canvas, QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    )
    for point in (middle, end):
        tool.canvasMoveEvent(QgsMapMouseEvent(canvas, QEvent.MouseMove, point, Qt.NoButton, Qt.LeftButton))
    tool.canvasReleaseEvent(
        QgsMapMouseEvent(canvas, QEvent.MouseButtonRelease, end, Qt.LeftButton, Qt.NoButton)
    )


def covered_pixels(low: float, high: float) -> tuple[int, int]:
    """First and one-past-last pixel index whose centre lies in [low, high] (pixel units)."""
    first, last = math.ceil(low - 0.5), math.floor(high - 0.5)
    for edge in (low - 0.5, high - 0.5):
        assert abs(edge - round(edge)) > 1e-3, "box edge too close to a pixel centre for an exact check"
    return first, last + 1


def expected_utm_polygon(rect_utm: QgsRectangle) -> QgsGeometry:
    """Pixel-edge polygon of the pixels (10 m, origin UTM_ORIGIN) whose centres lie inside ``rect_utm``."""
    x0, y0 = UTM_ORIGIN
    c0, c1 = covered_pixels(
        (rect_utm.xMinimum() - x0) / UTM_PIXEL_M, (rect_utm.xMaximum() - x0) / UTM_PIXEL_M
    )
    r0, r1 = covered_pixels(
        (y0 - rect_utm.yMaximum()) / UTM_PIXEL_M, (y0 - rect_utm.yMinimum()) / UTM_PIXEL_M
    )
    return QgsGeometry.fromRect(
        QgsRectangle(
            x0 + c0 * UTM_PIXEL_M, y0 - r1 * UTM_PIXEL_M, x0 + c1 * UTM_PIXEL_M, y0 - r0 * UTM_PIXEL_M
        )
    )


def plugin_toolbars(qgis_iface) -> list[QToolBar]:
    return [
        t
        for t in qgis_iface.mainWindow().findChildren(QToolBar)
        if not sip.isdeleted(t) and t.objectName() == "RossamGeoToolbar"
    ]


def click(tool, canvas, point: QPoint, button=Qt.LeftButton) -> None:
    """Press and release ``button`` at ``point`` without moving: a click."""
    tool.canvasPressEvent(QgsMapMouseEvent(canvas, QEvent.MouseButtonPress, point, button, button))
    tool.canvasReleaseEvent(QgsMapMouseEvent(canvas, QEvent.MouseButtonRelease, point, button, Qt.NoButton))


def press_key(tool, key) -> None:
    """A key press delivered to the map tool (Enter, Esc...)."""
    from qgis.PyQt.QtGui import QKeyEvent

    tool.keyPressEvent(QKeyEvent(QEvent.KeyPress, key, Qt.NoModifier))


def to_screen(canvas, x: float, y: float) -> QPoint:
    """The canvas pixel showing map point (x, y)."""
    device = canvas.getCoordinateTransform().transform(x, y)
    return QPoint(round(device.x()), round(device.y()))


#: the refinement raster: objects A (red, larger) and B (blue) inside one box, pixel rectangles
#: (col0, row0, col1, row1), on a grey textured background; 128 x 96 px, UTM 33N, 0.5 m pixels.
TWO_A, TWO_B = (20, 30, 56, 62), (76, 38, 92, 54)
TWO_BOX_PX = (12.2, 22.2, 99.8, 69.8)
TWO_ORIGIN, TWO_PIXEL_M = (500_000.0, 5_000_000.0), 0.5


def write_two_objects_raster(path: Path) -> Path:
    """The refinement raster (see :data:`TWO_A`), written with GDAL."""
    import numpy as np
    from osgeo import gdal, osr

    rng = np.random.default_rng(0)
    image = rng.normal(110, 6, (96, 128, 3))
    for (c0, r0, c1, r1), colour in ((TWO_A, (200, 60, 50)), (TWO_B, (50, 70, 210))):
        image[r0:r1, c0:c1] = rng.normal(0, 5, (r1 - r0, c1 - c0, 3)) + colour
    data = np.clip(image, 0, 255).astype(np.uint8)
    out = gdal.GetDriverByName("GTiff").Create(str(path), 128, 96, 3, gdal.GDT_Byte)
    out.SetGeoTransform((TWO_ORIGIN[0], TWO_PIXEL_M, 0.0, TWO_ORIGIN[1], 0.0, -TWO_PIXEL_M))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    out.SetProjection(srs.ExportToWkt())
    for band in range(3):
        out.GetRasterBand(band + 1).WriteArray(data[:, :, band])
    out = None
    return path


def two_map_point(col: float, row: float) -> QgsPointXY:
    """UTM point of a pixel position of the refinement raster."""
    return QgsPointXY(TWO_ORIGIN[0] + col * TWO_PIXEL_M, TWO_ORIGIN[1] - row * TWO_PIXEL_M)


def two_rect(c0: float, r0: float, c1: float, r1: float) -> QgsRectangle:
    """UTM rectangle of a pixel rectangle of the refinement raster."""
    return QgsRectangle(two_map_point(c0, r1), two_map_point(c1, r0))


def covered(geometry: QgsGeometry, pixel_rect: tuple[int, int, int, int]) -> float:
    """Fraction of an object (pixel rectangle of the refinement raster) that ``geometry`` (UTM) covers."""
    target = QgsGeometry.fromRect(two_rect(*pixel_rect))
    return geometry.intersection(target).area() / target.area()
