"""Plain-Python helpers for the backend's GeoJSON results (no QGIS imports, testable anywhere).

Pixel frames: the backend places plain (not georeferenced) images in rasterio's pixel frame, x right and
y down: pixel (col, row) covers [col, col + 1) x [row, row + 1). QGIS displays the same images with y up,
pixel (col, row) covering [col, col + 1) x [-row - 1, -row). Converting between the two negates y (and swaps
a box's ymin and ymax).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Box = Sequence[float]


def qgis_box_to_pixel_box(box_xyxy: Box) -> list[float]:
    """A box in QGIS coordinates of a plain image (y up) -> the same box in pixel coordinates (y down).

    Args:
        box_xyxy: (xmin, ymin, xmax, ymax) in QGIS layer coordinates (ymin, ymax <= 0 inside the image).

    Returns:
        [xmin, ymin, xmax, ymax] with y measured downwards from the image's top edge.
    """
    xmin, ymin, xmax, ymax = (float(v) for v in box_xyxy)
    return [xmin, -ymax, xmax, -ymin]


def flip_geometry_y(geometry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A GeoJSON geometry with every y negated (pixel frame <-> QGIS frame of a plain image).

    Negating y mirrors the geometry, so ring orientation is reversed too: exterior rings keep the
    orientation they had relative to the image.
    """
    if geometry is None:
        return None
    kind = geometry["type"]
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": [flip_geometry_y(g) for g in geometry["geometries"]]}
    return {"type": kind, "coordinates": _flip(geometry["coordinates"], _depth(kind))}


def geometry_to_wkt(geometry: dict[str, Any] | None) -> str:
    """WKT of a GeoJSON geometry (Point ... MultiPolygon, GeometryCollection); empty for None.

    Coordinates are written with Python's shortest round-tripping float repr, so no precision is lost.
    """
    if geometry is None:
        return "GEOMETRYCOLLECTION EMPTY"
    kind = geometry["type"]
    if kind == "GeometryCollection":
        parts = [geometry_to_wkt(g) for g in geometry["geometries"]]
        return "GEOMETRYCOLLECTION (" + ", ".join(parts) + ")" if parts else "GEOMETRYCOLLECTION EMPTY"
    name = _WKT_NAMES[kind]
    coords = geometry["coordinates"]
    if not coords:
        return f"{name} EMPTY"
    return f"{name} {_wkt_coords(coords, _depth(kind))}"


_WKT_NAMES = {
    "Point": "POINT",
    "MultiPoint": "MULTIPOINT",
    "LineString": "LINESTRING",
    "MultiLineString": "MULTILINESTRING",
    "Polygon": "POLYGON",
    "MultiPolygon": "MULTIPOLYGON",
}
_DEPTHS = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _depth(kind: str) -> int:
    return _DEPTHS[kind]


def _flip(coords: Any, depth: int) -> Any:
    if depth == 0:
        return [coords[0], -coords[1], *coords[2:]]
    return [_flip(c, depth - 1) for c in coords]


def _wkt_coords(coords: Any, depth: int) -> str:
    if depth == 0:
        return "(" + " ".join(repr(float(v)) for v in coords) + ")"
    if depth == 1:
        return "(" + ", ".join(" ".join(repr(float(v)) for v in point) for point in coords) + ")"
    return "(" + ", ".join(_wkt_coords(c, depth - 1) for c in coords) + ")"


def crs_string(crs_member: dict[str, Any] | None) -> str | None:
    """The CRS text of a result's ``crs`` member: the authority code when there is one, else the WKT."""
    if not crs_member:
        return None
    properties = crs_member.get("properties") or {}
    name = str(properties.get("name") or "")
    if name and ":" in name and "[" not in name:
        return name
    return str(properties.get("wkt") or name) or None
