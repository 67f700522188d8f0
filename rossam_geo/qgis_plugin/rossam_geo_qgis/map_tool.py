"""The "Box to polygon" map tool: drag a box on the canvas; a polygon of the object inside appears; clicks
refine it.

The tool is a small state machine (:class:`ToolState`): IDLE -(left press)-> DRAGGING -(release)-> IDLE.
A release after a drag of at least ``MIN_DRAG_PX`` emits ``boxDrawn``; a shorter one is a click and emits
``clicked`` with label 1 (a point on the object); a right click emits ``clicked`` with label 0 (a point off
it). Enter emits ``accepted`` and Esc ``discarded`` (and ends a drag). What a click or a key does is the
controller's: it shows the result of a box as a preview, refines it with each click, and writes it on
Enter (see :mod:`.refine`); clicks and keys while no preview is shown change nothing.
"""

from __future__ import annotations

from enum import Enum

from qgis.core import QgsPointXY, QgsRectangle, QgsWkbTypes
from qgis.gui import QgsMapCanvas, QgsMapMouseEvent, QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor, QKeyEvent

#: Drags shorter than this many screen pixels (either side) are clicks.
MIN_DRAG_PX = 3
#: The label of a click: on the object (left button) or off it (right button).
ON_OBJECT, OFF_OBJECT = 1, 0


class ToolState(Enum):
    """What the map tool is doing."""

    IDLE = "idle"  # waiting for a box or a click
    DRAGGING = "dragging"  # left button held: the rubber band follows the mouse


class BoxMapTool(QgsMapTool):
    """Draws a rectangle with a rubber band while dragging and emits it, in canvas CRS, on release; emits
    clicks and the Enter and Esc keys for refinement.

    Signals:
        boxDrawn(QgsRectangle): the box in the canvas's map coordinates (its destination CRS).
        clicked(QgsPointXY, int): a click in map coordinates, label 1 (left button) or 0 (right button).
        accepted(): Enter (or Return) was pressed.
        discarded(): Esc was pressed.
    """

    boxDrawn = pyqtSignal(QgsRectangle)
    clicked = pyqtSignal(QgsPointXY, int)
    accepted = pyqtSignal()
    discarded = pyqtSignal()

    def __init__(self, canvas: QgsMapCanvas) -> None:
        super().__init__(canvas)
        self.state = ToolState.IDLE
        self._start: QgsPointXY | None = None
        self._start_px = None
        self._band = QgsRubberBand(canvas, QgsWkbTypes.PolygonGeometry)
        self._band.setColor(QColor(255, 140, 0, 60))
        self._band.setStrokeColor(QColor(255, 140, 0))
        self._band.setWidth(2)
        self.setCursor(Qt.CrossCursor)

    def canvasPressEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() != Qt.LeftButton or self.state is not ToolState.IDLE:
            return
        self.state = ToolState.DRAGGING
        self._start = self.toMapCoordinates(event.pos())
        self._start_px = event.pos()
        self._band.reset(QgsWkbTypes.PolygonGeometry)

    def canvasMoveEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - Qt API
        if self.state is not ToolState.DRAGGING or self._start is None:
            return
        self._show(QgsRectangle(self._start, self.toMapCoordinates(event.pos())))

    def canvasReleaseEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.RightButton and self.state is ToolState.IDLE:
            self.clicked.emit(self.toMapCoordinates(event.pos()), OFF_OBJECT)
            return
        if self.state is not ToolState.DRAGGING or self._start is None or event.button() != Qt.LeftButton:
            return
        start, start_px = self._start, self._start_px
        self._reset()
        moved = event.pos() - start_px
        if abs(moved.x()) < MIN_DRAG_PX or abs(moved.y()) < MIN_DRAG_PX:
            self.clicked.emit(start, ON_OBJECT)
            return
        rect = QgsRectangle(start, self.toMapCoordinates(event.pos()))
        rect.normalize()
        self.boxDrawn.emit(rect)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key_Escape:
            self._reset()
            self.discarded.emit()
        elif event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.accepted.emit()

    def deactivate(self) -> None:
        self._reset()
        super().deactivate()

    def _reset(self) -> None:
        self.state = ToolState.IDLE
        self._start = None
        self._band.reset(QgsWkbTypes.PolygonGeometry)

    def clean_up(self) -> None:
        """Remove the rubber band from the canvas (call before deleting the tool)."""
        self._band.reset(QgsWkbTypes.PolygonGeometry)
        scene = self.canvas().scene()
        if scene is not None:
            scene.removeItem(self._band)

    def _show(self, rect: QgsRectangle) -> None:
        self._band.reset(QgsWkbTypes.PolygonGeometry)
        corners = [
            QgsPointXY(rect.xMinimum(), rect.yMinimum()),
            QgsPointXY(rect.xMaximum(), rect.yMinimum()),
            QgsPointXY(rect.xMaximum(), rect.yMaximum()),
            QgsPointXY(rect.xMinimum(), rect.yMaximum()),
        ]
        for i, corner in enumerate(corners):
            self._band.addPoint(corner, i == len(corners) - 1)
