"""Geometry on values: boxes between CRSs and pixel frames, masks to polygons, areas, reprojection.

Nothing here opens a file: inputs are arrays, affines, pyproj CRSs and shapely geometries.

Pixel convention (rasterio's): x right (columns), y down (rows); pixel (col, row) covers
[col, col + 1) x [row, row + 1). Boxes are XYXY = (xmin, ymin, xmax, ymax).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyproj
import shapely
from affine import Affine
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from rossam_geo.errors import CRSError, InputError
from rossam_geo.mask_parts import keep_box_parts, remove_small_regions

if TYPE_CHECKING:
    from rossam_geo.io import SceneInfo

__all__ = [
    "boxes_to_pixels",
    "geometry_area",
    "keep_box_parts",
    "mask_to_geometry",
    "pixel_size",
    "points_to_pixels",
    "remove_small_regions",
    "reproject_geometries",
    "window_transform",
]


def window_transform(scene_transform: Affine, col_off: int, row_off: int) -> Affine:
    """Transform of a window whose upper-left pixel is (col_off, row_off) of the scene.

    Offsets may be negative or beyond the raster (windows padded outside it).

    Returns:
        The affine mapping window pixel coordinates to scene-CRS coordinates.
    """
    return scene_transform @ Affine.translation(col_off, row_off)


def pixel_size(transform: Affine) -> float:
    """Side of a square of one pixel's area, in CRS units (sqrt of |determinant|)."""
    return math.sqrt(abs(transform.determinant))


def _corners_envelope(transform: Affine, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Envelope (N, 4) of the 4 corners of each box mapped through ``transform``."""
    xs = boxes_xyxy[:, [0, 2, 2, 0]]
    ys = boxes_xyxy[:, [1, 1, 3, 3]]
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    tx = a * xs + b * ys + c
    ty = d * xs + e * ys + f
    return np.stack([tx.min(axis=1), ty.min(axis=1), tx.max(axis=1), ty.max(axis=1)], axis=1)


def boxes_to_pixels(
    boxes_xyxy: np.ndarray,
    boxes_crs: pyproj.CRS | None,
    scene: SceneInfo,
    densify_points: int = 21,
) -> np.ndarray:
    """Convert boxes to XYXY pixel boxes of the scene.

    Each box is reprojected to the scene CRS by its densified outline (``densify_points`` points per edge),
    so a box whose edges curve in the scene CRS gets the envelope of the curved outline, not of its two
    corners. The envelope is then mapped through the inverse scene transform; for rotated or flipped
    transforms the envelope of the four mapped corners is taken.

    Args:
        boxes_xyxy: (N, 4) float XYXY in ``boxes_crs`` units, or in scene pixels when ``boxes_crs`` is None.
            NaN rows stay NaN.
        boxes_crs: the boxes' CRS, or None for pixel coordinates.
        scene: the scene (its ``crs`` and ``transform``).
        densify_points: points added along each box edge before reprojection.

    Returns:
        (N, 4) float64 XYXY pixel boxes (xmin <= xmax, ymin <= ymax). Rows that cannot be reprojected are NaN.

    Raises:
        CRSError: pixel boxes (no CRS) over a georeferenced scene, or boxes with a CRS over a scene without.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"boxes must have shape (N, 4) XYXY, got {boxes.shape}")
    if boxes_crs is None:
        if scene.georeferenced:
            crs_name = scene.crs.name if scene.crs is not None else "a CRS"
            raise CRSError(
                f"prompts have no CRS; pass --prompts-crs or --pixel (scene {scene.name!r} is in "
                f"{crs_name!r}; --pixel reads the boxes as pixel coordinates)"
            )
        return np.stack(
            [
                np.minimum(boxes[:, 0], boxes[:, 2]),
                np.minimum(boxes[:, 1], boxes[:, 3]),
                np.maximum(boxes[:, 0], boxes[:, 2]),
                np.maximum(boxes[:, 1], boxes[:, 3]),
            ],
            axis=1,
        )
    if scene.crs is None:
        raise CRSError(
            f"prompts are in {boxes_crs.name!r} but scene {scene.name!r} has no CRS; pass --pixel if the "
            "boxes are pixel coordinates, or georeference the scene (e.g. gdalwarp for GCP/RPC images)"
        )
    out = np.full_like(boxes, np.nan)
    finite = np.isfinite(boxes).all(axis=1)
    if boxes_crs.equals(scene.crs, ignore_axis_order=True):
        bounds = boxes.copy()
    else:
        transformer = pyproj.Transformer.from_crs(boxes_crs, scene.crs, always_xy=True)
        bounds = np.full_like(boxes, np.nan)
        for i in np.flatnonzero(finite):
            xmin, ymin, xmax, ymax = boxes[i]
            try:
                bounds[i] = transformer.transform_bounds(
                    min(xmin, xmax),
                    min(ymin, ymax),
                    max(xmin, xmax),
                    max(ymin, ymax),
                    densify_pts=densify_points,
                )
            except pyproj.exceptions.ProjError:
                continue
    ok = np.isfinite(bounds).all(axis=1)
    out[ok] = _corners_envelope(~scene.transform, bounds[ok])
    return out


def points_to_pixels(points_xy: np.ndarray, points_crs: pyproj.CRS | None, scene: SceneInfo) -> np.ndarray:
    """Convert XY points to pixel coordinates of the scene (x right, y down), as :func:`boxes_to_pixels`.

    Args:
        points_xy: (K, 2) float XY in ``points_crs`` units, or in scene pixels when ``points_crs`` is None.
        points_crs: the points' CRS, or None for pixel coordinates.
        scene: the scene (its ``crs`` and ``transform``).

    Returns:
        (K, 2) float64 pixel XY; points that cannot be reprojected are NaN.

    Raises:
        CRSError: pixel points (no CRS) over a georeferenced scene, or points with a CRS over a scene without.
    """
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if points_crs is None:
        if scene.georeferenced:
            raise CRSError(
                f"the clicks have no CRS but scene {scene.name!r} is georeferenced; give them in the "
                "prompts' CRS (or in pixels with --pixel)"
            )
        return points.copy()
    if scene.crs is None:
        raise CRSError(f"the clicks are in {points_crs.name!r} but scene {scene.name!r} has no CRS")
    x, y = points[:, 0], points[:, 1]
    if not points_crs.equals(scene.crs, ignore_axis_order=True):
        transformer = pyproj.Transformer.from_crs(points_crs, scene.crs, always_xy=True)
        x, y = transformer.transform(x, y, errcheck=False)
    cols, rows = ~scene.transform @ (np.asarray(x, np.float64), np.asarray(y, np.float64))
    out = np.column_stack([cols, rows]).astype(np.float64)
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


def _box_polygon(box_px_xyxy: Sequence[float], transform: Affine) -> Polygon:
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    return Polygon([transform @ (x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons inside any geometry."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if hasattr(geom, "geoms"):
        return [p for part in geom.geoms for p in _polygons(part)]
    return []


def _as_polygonal(parts: list[Polygon]) -> Polygon | MultiPolygon:
    if not parts:
        return Polygon()
    if len(parts) == 1:
        return parts[0]
    return MultiPolygon(parts)


def mask_to_geometry(
    mask: np.ndarray,
    transform: Affine,
    *,
    box_px_xyxy: Sequence[float] | None = None,
    keep_points_px: np.ndarray | None = None,
    all_parts: bool = False,
    simplify_px: float = 0.0,
    min_region_px: float = 0.0,
) -> Polygon | MultiPolygon:
    """Polygonize a boolean mask of a window into the scene CRS.

    Pixel edges become polygon edges (``rasterio.features.shapes``, 4-connected parts); holes are kept
    (those of at least ``min_region_px`` pixels).

    Args:
        mask: (h, w) bool mask of the window.
        transform: the window's pixel -> scene-CRS transform (see :func:`window_transform`).
        box_px_xyxy: the prompt box in the window's pixel frame; only parts overlapping its interior are kept.
        keep_points_px: (P, 2) XY clicks on the object in the window's pixel frame: the parts holding one are
            kept too (with the part chosen for the box).
        all_parts: keep every (overlapping) part instead of the one with the largest overlap with the box
            (or the largest area, without a box).
        simplify_px: simplification tolerance in pixels (0: none); topology is preserved.
        min_region_px: after the part(s) are chosen, holes and further parts smaller than this many pixels
            are removed (:func:`remove_small_regions`; 0: none), so speckle never reaches the polygons.

    Returns:
        A Polygon or MultiPolygon in the scene CRS, made valid; an empty Polygon when nothing is kept.
    """
    from rasterio.features import shapes

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"mask must be 2-D (height, width), got shape {mask.shape}")
    # Choose the part(s) on the raster first (C speed), so that only they are turned into polygons: a
    # speckled mask can hold thousands of parts. The polygon-level choice below then decides among the
    # polygons of the chosen part(s).
    mask_bool = keep_box_parts(mask, box_px_xyxy, all_parts=all_parts, keep_points_px=keep_points_px)
    if min_region_px > 0 and mask_bool.any():
        main = (
            keep_box_parts(mask_bool, box_px_xyxy, keep_points_px=keep_points_px) if all_parts else mask_bool
        )
        mask_bool = remove_small_regions(mask_bool, min_region_px, keep=main)
    if not mask_bool.any():
        return Polygon()
    parts: list[Polygon] = []
    for geojson, _value in shapes(mask_bool.astype(np.uint8), mask=mask_bool, transform=transform):
        parts.extend(_polygons(shapely.make_valid(shapely.geometry.shape(geojson))))
    held = _parts_holding(parts, keep_points_px, transform)
    if box_px_xyxy is not None and len(parts) > 1:
        box = _box_polygon(box_px_xyxy, transform)
        overlaps = [(p.intersection(box).area, p) for p in parts]
        chosen = [p for overlap, p in overlaps if overlap > 0.0]
        if not all_parts and chosen:
            chosen = [max(overlaps, key=lambda item: (item[0], item[1].area))[1]]
        parts = chosen + [p for p in held if not any(p is c for c in chosen)]
    elif not all_parts and parts:
        largest = max(parts, key=lambda p: p.area)
        parts = [largest] + [p for p in held if p is not largest]
    geom: BaseGeometry = _as_polygonal(parts)
    if simplify_px > 0 and not geom.is_empty:
        geom = shapely.make_valid(geom.simplify(simplify_px * pixel_size(transform), preserve_topology=True))
        geom = _as_polygonal(_polygons(geom))
    return geom


def _parts_holding(parts: list[Polygon], points_px_xy: np.ndarray | None, transform: Affine) -> list[Polygon]:
    """The polygons (in the scene CRS) that hold one of the XY pixel points (mapped through ``transform``)."""
    if points_px_xy is None or len(points_px_xy) == 0:
        return []
    points = [
        shapely.geometry.Point(transform @ (float(x), float(y))) for x, y in np.reshape(points_px_xy, (-1, 2))
    ]
    return [p for p in parts if any(p.covers(point) for point in points)]


def _linear_unit_factor(crs: pyproj.CRS) -> float:
    """Metres per CRS unit along the first axis."""
    for axis in crs.axis_info:
        if axis.unit_conversion_factor and axis.unit_name not in ("degree", "radian", "grad"):
            return float(axis.unit_conversion_factor)
    raise CRSError(f"CRS {crs.name!r} has no linear unit; areas need a projected or geographic CRS")


def geometry_area(geom: BaseGeometry | None, crs: pyproj.CRS | None, pixel_area: float) -> tuple[float, str]:
    """Area of a geometry in square metres, or in pixels when there is no CRS.

    Args:
        geom: a shapely geometry in ``crs`` coordinates (None or empty: area 0).
        crs: projected CRS (planar area scaled by the unit's metres per unit, squared), geographic CRS
            (geodesic area on the CRS ellipsoid), or None (pixel coordinates).
        pixel_area: area of one pixel in ``geom``'s coordinate units, used only when ``crs`` is None (1.0 for
            the identity transform).

    Returns:
        (area, unit) with unit ``"m2"`` or ``"px"``.
    """
    if geom is None or geom.is_empty:
        return 0.0, "px" if crs is None else "m2"
    if crs is None:
        if pixel_area <= 0:
            raise InputError(f"pixel_area must be > 0, got {pixel_area}")
        return float(geom.area) / pixel_area, "px"
    if crs.is_geographic:
        geod = crs.get_geod()
        if geod is None:
            raise CRSError(f"geographic CRS {crs.name!r} has no ellipsoid; cannot compute a geodesic area")
        area, _perimeter = geod.geometry_area_perimeter(geom)
        return abs(float(area)), "m2"
    factor = _linear_unit_factor(crs)
    return float(geom.area) * factor * factor, "m2"


def reproject_geometries(
    geoms: Iterable[BaseGeometry | None], src: pyproj.CRS, dst: pyproj.CRS
) -> list[BaseGeometry | None]:
    """Reproject geometries vertex by vertex (None and empty geometries pass through).

    Args:
        geoms: shapely geometries in ``src`` coordinates.
        src, dst: source and destination CRSs.

    Returns:
        A list of geometries in ``dst`` coordinates, in the same order.
    """
    items = list(geoms)
    if src.equals(dst, ignore_axis_order=True):
        return items
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    array = np.array(items, dtype=object)
    present = np.array([g is not None for g in items], dtype=bool)
    out = array.copy()
    if present.any():
        out[present] = shapely.transform(
            array[present], lambda x, y: transformer.transform(x, y), interleaved=False
        )
    return list(out)
