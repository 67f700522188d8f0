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
    for row_number, (raw_id, geometry) in enumerate(zip(ids, frame.geometry, strict=True)):
        oid = object_key(raw_id)
        if oid in objects:
            skipped.append((oid, "duplicate object id"))
            continue
        mask = rasterize_geometry(geometry, grid)
        objects[oid] = GTObject(
            object_id=oid,
            image_id=grid.image_id,
            class_name=None if classes is None else optional_str(classes.iloc[row_number]),
            mask=mask,
            box_px_xyxy=mask_box(mask),
        )
    return GroundTruth(images={grid.image_id: grid}, objects=objects, skipped=skipped, source=str(path))


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
    path: str | Path, gt: GroundTruth, *, raster: str | Path | None = None, layer: str | None = None
) -> Predictions:
    """Read a segment output (GeoPackage or other vector file) matched to ``gt`` by ``prompt_id``.

    Args:
        path: the vector file; needs a ``prompt_id`` field (else the feature id is the prompt id).
        gt: ground truth giving each object's grid.
        raster: for COCO ground truth with georeferenced predictions, the image giving the pixel grid (its
            size must equal the ground-truth image's).
        layer: layer name for multi-layer files.
    """
    path = Path(path)
    frame = read_vector_layer(path, layer=layer)
    frame_crs = _crs_of(frame)
    georef_grid = read_raster_grid(raster) if raster is not None else None
    ids = frame["prompt_id"] if "prompt_id" in frame.columns else frame.index
    columns = set(frame.columns)
    frames_by_crs: dict[str, Any] = {}

    def in_crs(crs: CRS) -> Any:
        key = crs.to_wkt()
        if key not in frames_by_crs:
            frames_by_crs[key] = frame if frame_crs == crs else frame.to_crs(crs)
        return frames_by_crs[key]

    matched: dict[str, Prediction] = {}
    unmatched: list[str] = []
    for row_number, raw_id in enumerate(ids):
        oid = object_key(raw_id)
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
        grid = gt.images[obj.image_id]
        try:
            target = _prediction_grid(grid, frame_crs, georef_grid, path)
        except InputError as exc:
            matched[oid] = Prediction(oid, None, score, "error", str(exc))
            continue
        geometry = in_crs(target.crs).geometry.iloc[row_number] if target.crs is not None else row.geometry
        mask = rasterize_geometry(geometry, target)
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
