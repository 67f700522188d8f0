"""Fixtures of the CLI tests: a small UTM scene with green objects and lon/lat prompt boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from affine import Affine
from rasterio.warp import transform_bounds

from tests.geo.fakes import make_csv_prompts, make_vector_prompts
from tests.pipeline.conftest import draw_key_scene

UTM_TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)
#: objects of the scene (pixel rectangles) and the prompt boxes around them; the last box is off the raster.
RECTS = [(10, 10, 30, 30), (60, 40, 90, 55)]
BOXES_PX = [(8.0, 8.0, 32.0, 32.0), (58.0, 38.0, 92.0, 57.0), (500.0, 500.0, 520.0, 520.0)]


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A 120 x 100 px uint8 RGB GeoTIFF in EPSG:32633 with two green rectangles."""
    return draw_key_scene(tmp_path / "scene.tif", 120, 100, RECTS)


@pytest.fixture
def lonlat_prompts(tmp_path: Path) -> Path:
    """The boxes of :data:`BOXES_PX` as EPSG:4326 rectangles in a GeoJSON with a class field."""
    boxes = []
    for x0, y0, x1, y1 in BOXES_PX:
        left, top = UTM_TRANSFORM @ (x0, y0)
        right, bottom = UTM_TRANSFORM @ (x1, y1)
        boxes.append(transform_bounds("EPSG:32633", "EPSG:4326", left, bottom, right, top))
    return make_vector_prompts(
        tmp_path / "boxes.geojson", boxes, crs="EPSG:4326", classes=["airplane", "ship", "car"]
    )


@pytest.fixture
def pixel_csv(tmp_path: Path) -> Path:
    """The boxes of :data:`BOXES_PX` in scene pixels, as CSV."""
    return make_csv_prompts(tmp_path / "boxes.csv", BOXES_PX, classes=["airplane", "ship", "car"])
