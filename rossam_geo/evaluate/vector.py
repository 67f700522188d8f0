"""Vector files and rasters: polygons rasterized on an image's pixel grid (pixel centres inside)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from affine import Affine
from pyproj import CRS

from rossam_geo.errors import CRSError, InputError
from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.objects import (
    GroundTruth,
    GTObject,
    ImageGrid,
    Prediction,
    Predictions,
    mask_box,
    object_key,
    optional_float,
    optional_str,
)
from rossam_geo.evaluate.rules import (
    MatchRule,
    check_rule,
    ids_by_overlap,
    ids_by_position,
    missing_ids_error,
    unmatched_label,
)
from rossam_geo.io import read_pixel_grid, read_vector_layer


def read_raster_grid(path: str | Path) -> ImageGrid:
    """The pixel grid (size, transform, CRS) of a raster, without reading its pixels.

    Raises:
        RasterError: the raster is missing or GDAL cannot open it.
    """
    grid = read_pixel_grid(path)
    return ImageGrid(grid.name, grid.name, grid.height, grid.width, grid.transform, grid.crs)


def rasterize_geometry(geometry: Any, grid: ImageGrid) -> CroppedMask:
    """Rasterize a shapely geometry (in ``grid.crs``) on the grid: pixels whose centre lies inside.

    Only the window around the geometry's bounds is burnt, so large scenes cost nothing extra.
    """
    from rasterio import features

    if geometry is None or geometry.is_empty:
        return CroppedMask.empty(grid.shape)
    minx, miny, maxx, maxy = geometry.bounds
    inverse = ~grid.transform
    corners = [inverse @ (x, y) for x in (minx, maxx) for y in (miny, maxy)]
    cols = [c for c, _ in corners]
    rows = [r for _, r in corners]
    col0, row0 = max(0, math.floor(min(cols)) - 1), max(0, math.floor(min(rows)) - 1)
    col1, row1 = min(grid.width, math.ceil(max(cols)) + 1), min(grid.height, math.ceil(max(rows)) + 1)
    if col1 <= col0 or row1 <= row0:
        return CroppedMask.empty(grid.shape)
    window_transform = grid.transform @ Affine.translation(col0, row0)
    burnt = features.rasterize(
        [(geometry, 1)],
        out_shape=(row1 - row0, col1 - col0),
        transform=window_transform,
        fill=0,
        dtype="uint8",
    )
    return CroppedMask.from_window(burnt, row0, col0, grid.shape)


def _crs_of(frame: Any) -> CRS | None:
    return None if frame.crs is None else CRS.from_user_input(frame.crs)


def read_vector_ground_truth(
    path: str | Path,
    raster: str | Path,
    *,
    layer: str | None = None,
    id_field: str | None = None,
    class_field: str | None = None,
) -> GroundTruth:
    """Read ground-truth polygons from a vector file and rasterize them on ``raster``'s pixel grid.

    Args:
        path: vector file (GeoPackage, GeoJSON, Shapefile...).
        raster: the image the polygons outline; gives the grid and CRS.
        layer: layer name for multi-layer files.
        id_field: field holding the object id; default the feature id (fid).
        class_field: field holding the class; default ``class`` when present.

    Raises:
        CRSError: the polygons and the raster disagree on having a CRS.
        InputError: unreadable file or unknown field.
    """
    path = Path(path)
    grid = read_raster_grid(raster)
    frame = read_vector_layer(path, layer=layer)
    _require_fields(frame, path, [id_field, class_field])
    frame = _to_grid_crs(frame, grid, path)
    ids = frame[id_field] if id_field else frame.index
    classes = frame[class_field] if class_field else frame["class"] if "class" in frame.columns else None
    objects: dict[str, GTObject] = {}
    skipped: list[tuple[str, str]] = []
    repaired: list[str] = []
    footprint = grid_footprint(grid)
    for row_number, (raw_id, geometry) in enumerate(zip(ids, frame.geometry, strict=True)):
        oid = object_key(raw_id)
        if oid in objects:
            skipped.append((oid, "duplicate object id"))
            continue
        usable, why, was_repaired = usable_polygon(geometry)
        if usable is None:
            skipped.append((oid, why))
            continue
        if not usable.intersects(footprint):
            skipped.append((oid, f"outside the raster {grid.name}"))
            continue
        mask = rasterize_geometry(usable, grid)
        if mask.is_empty:
            skipped.append((oid, "covers no pixel centre of the raster (smaller than a pixel)"))
            continue
        if was_repaired:
            repaired.append(oid)
        objects[oid] = GTObject(
            object_id=oid,
            image_id=grid.image_id,
            class_name=None if classes is None else optional_str(classes.iloc[row_number]),
            mask=mask,
            box_px_xyxy=mask_box(mask),
        )
    return GroundTruth(
        images={grid.image_id: grid}, objects=objects, skipped=skipped, source=str(path), repaired=repaired
    )


def grid_footprint(grid: ImageGrid) -> Any:
    """The raster's outline in its CRS (pixels for a pixel frame) as a shapely polygon."""
    import shapely

    corners = [(0, 0), (grid.width, 0), (grid.width, grid.height), (0, grid.height)]
    return shapely.Polygon([grid.transform @ corner for corner in corners])


def usable_polygon(geometry: Any) -> tuple[Any, str, bool]:
    """A ground-truth geometry as a valid (multi)polygon, or why it cannot be one.

    Invalid polygons (self-intersections, bad rings) are repaired with ``shapely.make_valid`` and only their
    polygonal parts are kept.

    Returns:
        (polygon or None, reason when None, True when it was repaired).
    """
    import shapely
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

    if geometry is None:
        return None, "null geometry", False
    if geometry.is_empty:
        return None, "empty geometry", False
    if not isinstance(geometry, (Polygon, MultiPolygon)):
        return None, f"a {geometry.geom_type}, not a polygon", False
    if geometry.is_valid:
        return geometry, "", False
    valid = shapely.make_valid(geometry)
    if isinstance(valid, GeometryCollection):
        parts = [g for g in valid.geoms if isinstance(g, (Polygon, MultiPolygon))]
        valid = shapely.union_all(parts) if parts else Polygon()
    if not isinstance(valid, (Polygon, MultiPolygon)) or valid.is_empty or valid.area <= 0:
        return None, "invalid polygon that make_valid cannot repair into an area", False
    return valid, "", True


def _require_fields(frame: Any, path: Path, names: list[str | None]) -> None:
    for name in names:
        if name is not None and name not in frame.columns:
            fields = ", ".join(c for c in frame.columns if c != "geometry")
            raise InputError(f"{path} has no field {name!r}; its fields are: {fields}")


def _to_grid_crs(frame: Any, grid: ImageGrid, path: Path) -> Any:
    frame_crs, grid_crs = _crs_of(frame), grid.crs
    if frame_crs is None:
        if grid_crs is None:
            return frame
        raise CRSError(
            f"{path} has no CRS but the raster {grid.name} is in {grid_crs.to_string()}; set the file's CRS"
        )
    if grid_crs is None:
        raise CRSError(
            f"{path} is in {frame_crs.to_string()} but its image {grid.name} has no georeferencing; give the "
            "georeferenced raster with --raster, or polygons in pixel coordinates"
        )
    return frame if frame_crs == grid_crs else frame.to_crs(grid_crs)


def read_vector_predictions(
    path: str | Path,
    gt: GroundTruth,
    *,
    raster: str | Path | None = None,
    layer: str | None = None,
    match: MatchRule = "id",
) -> Predictions:
    """Read a segment output (GeoPackage or other vector file) matched to ``gt``.

    Args:
        path: the vector file; with ``match="id"`` it needs a ``prompt_id`` field.
        gt: ground truth giving each object's grid.
        raster: for COCO ground truth with georeferenced predictions, the image giving the pixel grid (its
            size must equal the ground-truth image's).
        layer: layer name for multi-layer files.
        match: ``"id"``, ``"position"`` or ``"overlap"`` (see :mod:`rossam_geo.evaluate.rules`); overlap
            needs ground truth of one image.

    Raises:
        InputError: no ``prompt_id`` field under ``match="id"``; overlap with ground truth of several images.
    """
    path = Path(path)
    match = check_rule(match)
    frame = read_vector_layer(path, layer=layer)
    frame_crs = _crs_of(frame)
    georef_grid = read_raster_grid(raster) if raster is not None else None
    columns = set(frame.columns)
    if match == "id" and "prompt_id" not in columns:
        raise missing_ids_error(path, "'prompt_id' field")
    frames_by_crs: dict[str, Any] = {}

    def in_crs(crs: CRS) -> Any:
        key = crs.to_wkt()
        if key not in frames_by_crs:
            frames_by_crs[key] = frame if frame_crs == crs else frame.to_crs(crs)
        return frames_by_crs[key]

    def row_mask(row_number: int, grid: ImageGrid) -> CroppedMask:
        target = _prediction_grid(grid, frame_crs, georef_grid, path)
        geometry = (
            in_crs(target.crs).geometry.iloc[row_number]
            if target.crs is not None
            else frame.geometry.iloc[row_number]
        )
        return rasterize_geometry(geometry, target)

    cached: dict[int, CroppedMask] = {}
    ids: list[str | None]
    if match == "id":
        ids = [object_key(v) for v in frame["prompt_id"]]
    elif match == "position":
        ids = ids_by_position(len(frame), gt)
    else:
        if len(gt.images) != 1:
            raise InputError(
                f"--match overlap needs ground truth of one image for {path.name}, but it has "
                f"{len(gt.images)}; "
                "add a prompt_id field to the predictions, or use --match position"
            )
        ((image_id, grid),) = gt.images.items()
        cached = {i: row_mask(i, grid) for i in range(len(frame))}
        ids = ids_by_overlap([(image_id, cached[i]) for i in range(len(frame))], gt)
    matched: dict[str, Prediction] = {}
    unmatched: list[str] = []
    for row_number, maybe_id in enumerate(ids):
        if maybe_id is None:
            unmatched.append(unmatched_label(row_number, match))
            continue
        oid = maybe_id
        obj = gt.objects.get(oid)
        if obj is None:
            unmatched.append(oid)
            continue
        if oid in matched:
            matched[oid] = Prediction(oid, None, None, "error", f"several features with prompt_id {oid}")
            continue
        row = frame.iloc[row_number]
        score = optional_float(row["score"]) if "score" in columns else None
        status = optional_str(row["status"]) if "status" in columns else None
        reason = optional_str(row["reason"]) if "reason" in columns else None
        try:
            mask = (
                cached[row_number] if row_number in cached else row_mask(row_number, gt.images[obj.image_id])
            )
        except InputError as exc:
            matched[oid] = Prediction(oid, None, score, "error", str(exc))
            continue
        matched[oid] = Prediction(oid, mask, score, status or "ok", reason or "")
    return Predictions(matched=matched, unmatched_ids=unmatched, source=str(path))


def _prediction_grid(
    grid: ImageGrid, frame_crs: CRS | None, georef: ImageGrid | None, path: Path
) -> ImageGrid:
    if frame_crs is None:
        if grid.crs is not None:
            raise CRSError(
                f"{path} has no CRS but the ground truth is in {grid.crs.to_string()}; set its CRS"
            )
        return grid
    if grid.crs is not None:
        return grid
    if georef is None or georef.crs is None:
        raise CRSError(
            f"{path} is in {frame_crs.to_string()} but image {grid.name} is a pixel frame; pass the "
            "georeferenced image with --raster"
        )
    if georef.shape != grid.shape:
        raise InputError(
            f"raster {georef.name} is {georef.height}x{georef.width} px but image {grid.name} is "
            f"{grid.height}x{grid.width} px; pass the raster of that image"
        )
    return ImageGrid(grid.image_id, grid.name, grid.height, grid.width, georef.transform, georef.crs)
