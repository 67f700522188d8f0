"""The "ROS-SAM" processing provider."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..backend import BackendClient
from .segment_boxes import SegmentBoxesAlgorithm


class RossamProvider(QgsProcessingProvider):
    """Provides "Segment boxes to polygons"; algorithms share the plugin's backend (model stays loaded)."""

    def __init__(self, client: Callable[[], BackendClient]) -> None:
        super().__init__()
        self._client = client

    def id(self) -> str:
        return "rossamgeo"

    def name(self) -> str:
        return "ROS-SAM"

    def longName(self) -> str:  # noqa: N802 - QGIS API
        return "ROS-SAM box-prompted segmentation"

    def icon(self) -> QIcon:
        return QgsApplication.getThemeIcon("/mActionAddPolygon.svg")

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        self.addAlgorithm(SegmentBoxesAlgorithm(self._client))
