"""rossam_geo: ROS-SAM box-to-polygon segmentation of moving objects in satellite imagery, for GIS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rossam_geo.api import Segmenter, segment, segment_array

_LAZY = {"segment": "rossam_geo.api", "segment_array": "rossam_geo.api", "Segmenter": "rossam_geo.api"}


def __getattr__(name: str) -> Any:
    # Import the API on first use so that `import rossam_geo` stays light (no torch, no GDAL).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rossam_geo' has no attribute {name!r}")


__all__ = ["Segmenter", "__version__", "segment", "segment_array"]
