"""ROS-SAM for QGIS: box-prompted segmentation through the ``rossam-geo serve`` backend.

The plugin never imports torch or rossam_geo; it talks to the backend process over stdio (JSON-RPC 2.0).
"""

from __future__ import annotations

from typing import Any


def classFactory(iface: Any) -> Any:  # noqa: N802 - QGIS API
    """Entry point called by QGIS with its interface object."""
    from .plugin import RossamGeoPlugin

    return RossamGeoPlugin(iface)
