"""Helpers of the QGIS plugin tests: loading rasters, dragging on the canvas, expected pixel polygons."""

from __future__ import annotations

import math
from pathlib import Path

from qgis.core import QgsApplication, QgsGeometry, QgsProject, QgsRasterLayer, QgsRectangle
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
