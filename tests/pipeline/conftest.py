"""Fixtures of the pipeline tests: scenes whose objects are green rectangles, and their expected polygons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine
from shapely import affinity

from tests.geo.fakes import make_geotiff
from tests.pipeline.oracle import KEY_GREEN, OracleEngine

Rect = tuple[int, int, int, int]  # col0, row0, col1, row1 (pixel edges, exclusive end)


def key_pixels(height: int, width: int, rects: Sequence[Rect], seed: int = 0) -> np.ndarray:
    """(3, height, width) uint8: textured red/blue background with green 0; rectangles with green 255."""
    rng = np.random.default_rng(seed)
    data = np.zeros((3, height, width), np.uint8)
    data[0] = rng.integers(0, 256, (height, width))
    data[2] = rng.integers(0, 256, (height, width))
    for c0, r0, c1, r1 in rects:
        data[1, r0:r1, c0:c1] = KEY_GREEN
    return data


def draw_key_scene(
    path: Path,
    width: int,
    height: int,
    rects: Sequence[Rect],
    *,
    crs: str | None = "EPSG:32633",
    transform: Affine | None = None,
    driver: str = "GTiff",
) -> Path:
    """Write a key-colour scene (see :func:`key_pixels`)."""
    if transform is None and crs is not None:
        transform = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)
    return make_geotiff(
        path, data=key_pixels(height, width, rects), crs=crs, transform=transform, driver=driver
    )


def pixel_polygon(c0: float, r0: float, c1: float, r1: float, transform: Affine) -> shapely.Polygon:
    """The pixel-frame rectangle [c0, c1) x [r0, r1) mapped to the scene CRS."""
    return affinity.affine_transform(
        shapely.box(c0, r0, c1, r1),
        [transform.a, transform.b, transform.d, transform.e, transform.xoff, transform.yoff],
    )


def box_engine_pixels(box_px_xyxy: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel span (c0, r0, c1, r1) of the box engine mask: pixel centres in [x0, x1) x [y0, y1)."""
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return int(np.ceil(x0 - 0.5)), int(np.ceil(y0 - 0.5)), int(np.ceil(x1 - 0.5)), int(np.ceil(y1 - 0.5))


def assert_same_area(actual: shapely.Geometry, expected: shapely.Geometry, pixel_area: float) -> None:
    """The two geometries cover the same ground, up to float noise (1e-6 of a pixel)."""
    difference = shapely.symmetric_difference(actual, expected).area
    assert difference < 1e-6 * pixel_area, f"geometries differ by {difference} (pixel area {pixel_area})"


@pytest.fixture
def oracle() -> OracleEngine:
    """The oracle with a tiny 128 px model input (window 64 px at upsample 2)."""
    return OracleEngine(input_size_px=128, max_batch=4)
