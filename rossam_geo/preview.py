"""A quick-look PNG: the scene around all boxes, decimated, with polygons outlined and boxes dashed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from affine import Affine
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from rossam_geo.io.atomic import write_bytes_atomic
from rossam_geo.pipeline.run import ReaderSource, WindowSource

#: RGB colours.
POLYGON_RGB = (255, 230, 0)
BOX_RGB = (0, 220, 255)
PROBLEM_RGB = (255, 60, 60)
#: context around the boxes' union, as a fraction of its long side (and at least this many pixels).
MARGIN_FRACTION = 0.05
MARGIN_MIN_PX = 16
#: rows of the output read per strip (bounds memory on large windows).
STRIP_OUTPUT_ROWS = 128


def preview_window(
    boxes_px_xyxy: np.ndarray, raster_width: int, raster_height: int
) -> tuple[int, int, int, int] | None:
    """(col_off, row_off, width, height) of the raster around all finite boxes plus a margin, or None."""
    boxes = np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return None
    x0, y0 = max(0.0, boxes[:, 0].min()), max(0.0, boxes[:, 1].min())
    x1, y1 = min(float(raster_width), boxes[:, 2].max()), min(float(raster_height), boxes[:, 3].max())
    if x1 <= x0 or y1 <= y0:
        return None
    margin = max(MARGIN_MIN_PX, MARGIN_FRACTION * max(x1 - x0, y1 - y0))
    c0, r0 = max(0, math.floor(x0 - margin)), max(0, math.floor(y0 - margin))
    c1, r1 = min(raster_width, math.ceil(x1 + margin)), min(raster_height, math.ceil(y1 + margin))
    return c0, r0, c1 - c0, r1 - r0


def read_decimated(source: WindowSource, window: tuple[int, int, int, int], factor: int) -> np.ndarray:
    """Read a window shrunk by ``factor``.

    A raster file (:class:`~rossam_geo.pipeline.run.ReaderSource`) is decimated by GDAL from overviews or
    block by block (:meth:`rossam_geo.io.RasterReader.read_decimated_rgb`), so memory does not grow with the
    window; an in-memory image is averaged over ``factor`` x ``factor`` blocks, strip by strip.

    Args:
        window: (col_off, row_off, width, height) in raster pixels; for a file, inside the raster.

    Returns:
        (ceil(height / factor), ceil(width / factor), 3) uint8 RGB.
    """
    if isinstance(source, ReaderSource):
        out_w, out_h = math.ceil(window[2] / factor), math.ceil(window[3] / factor)
        rgb, _valid = source.reader.read_decimated_rgb(
            window, out_w, out_h, bands=source.bands, stretch=source.stretch
        )
        return rgb
    return read_decimated_strips(source, window, factor)


def read_decimated_strips(source: WindowSource, window: tuple[int, int, int, int], factor: int) -> np.ndarray:
    """Read a window at full resolution, :data:`STRIP_OUTPUT_ROWS` output rows at a time, and average it over
    ``factor`` x ``factor`` blocks (OpenCV ``INTER_AREA``): for in-memory sources, where no read is saved.

    Returns:
        (ceil(height / factor), ceil(width / factor), 3) uint8 RGB.
    """
    col_off, row_off, width, height = window
    out_w, out_h = math.ceil(width / factor), math.ceil(height / factor)
    image = np.zeros((out_h, out_w, 3), np.uint8)
    for out_row in range(0, out_h, STRIP_OUTPUT_ROWS):
        rows = min(STRIP_OUTPUT_ROWS, out_h - out_row)
        strip, _valid = source.read_window(col_off, row_off + out_row * factor, out_w * factor, rows * factor)
        if factor > 1:
            strip = cv2.resize(strip, (out_w, rows), interpolation=cv2.INTER_AREA)
        image[out_row : out_row + rows] = strip
    return image


def _dashed_rectangle(
    image: np.ndarray,
    p0: tuple[float, float],
    p1: tuple[float, float],
    colour: tuple[int, ...],
    dash_px: int = 6,
) -> None:
    """Draw a dashed axis-aligned rectangle in place."""
    (x0, y0), (x1, y1) = p0, p1
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        steps = max(1, int(length // dash_px))
        for k in range(0, steps, 2):
            t0, t1 = k / steps, min(1.0, (k + 1) / steps)
            start = (round(a[0] + (b[0] - a[0]) * t0), round(a[1] + (b[1] - a[1]) * t0))
            end = (round(a[0] + (b[0] - a[0]) * t1), round(a[1] + (b[1] - a[1]) * t1))
            cv2.line(image, start, end, colour, 1, cv2.LINE_8)


def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    """Exterior and interior rings of a (multi)polygon as (K, 2) arrays."""
    if geom.is_empty:
        return []
    if hasattr(geom, "geoms"):
        return [ring for part in geom.geoms for ring in _rings(part)]
    if hasattr(geom, "exterior"):
        return [np.asarray(geom.exterior.coords)] + [np.asarray(r.coords) for r in geom.interiors]
    return []


def render_preview(
    source: WindowSource,
    boxes_px_xyxy: np.ndarray,
    geometries_scene: Sequence[BaseGeometry],
    scene_transform: Affine,
    *,
    statuses: Sequence[str] | None = None,
    max_side_px: int = 1024,
) -> np.ndarray:
    """Draw the scene around all boxes with polygons outlined and boxes dashed.

    Args:
        source: the scene's windows (RGB uint8).
        boxes_px_xyxy: (N, 4) prompt boxes in scene pixels (NaN rows are left out).
        geometries_scene: N polygons in the scene CRS (pixels when not georeferenced).
        scene_transform: the scene's pixel -> CRS affine.
        statuses: per box; boxes whose status is not "ok" are drawn in red.
        max_side_px: longest side of the image; larger windows are decimated by an integer factor.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    window = preview_window(boxes_px_xyxy, source.width, source.height) or (0, 0, source.width, source.height)
    col_off, row_off, width, height = window
    factor = max(1, math.ceil(max(width, height) / max_side_px))
    image = read_decimated(source, window, factor)
    upscale = max(1, min(4, max_side_px // max(image.shape[:2])))
    if upscale > 1:
        image = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_NEAREST)
    zoom = upscale / factor

    def to_image(x: float, y: float) -> tuple[float, float]:
        return (x - col_off) * zoom, (y - row_off) * zoom

    thickness = 2 if zoom >= 1 else 1
    inverse = ~scene_transform
    for geom in geometries_scene:
        if geom is None or geom.is_empty:
            continue
        in_pixels = affinity.affine_transform(
            geom, [inverse.a, inverse.b, inverse.d, inverse.e, inverse.xoff, inverse.yoff]
        )
        for ring in _rings(in_pixels):
            points = np.array([to_image(x, y) for x, y in ring[:, :2]])
            cv2.polylines(
                image,
                [np.round(points * 4).astype(np.int32)],
                True,
                POLYGON_RGB,
                thickness,
                cv2.LINE_AA,
                shift=2,
            )
    boxes = np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4)
    for i, box in enumerate(boxes):
        if not np.isfinite(box).all():
            continue
        colour = BOX_RGB if statuses is None or statuses[i] == "ok" else PROBLEM_RGB
        _dashed_rectangle(image, to_image(box[0], box[1]), to_image(box[2], box[3]), colour)
    return image


def save_png(image_rgb_u8: np.ndarray, path: str | Path) -> None:
    """Write an RGB image as PNG atomically (temporary file in the same folder, then os.replace)."""
    path = Path(path)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image_rgb_u8[..., ::-1]))
    if not ok:
        raise ValueError(f"could not encode a PNG of shape {image_rgb_u8.shape}")
    write_bytes_atomic(path, encoded.tobytes())
