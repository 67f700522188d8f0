"""A scene for refinement clicks: two objects inside one prompt box, and clicks on them in any CRS.

Object A (red, cols 20-55, rows 30-61) is the larger; object B (blue, cols 76-91, rows 38-53) lies beside it,
inside the same box, on a grey textured background. GrabCut takes both as foreground, and the part of the box
(A) is kept; a click on B keeps B too, and a click off the object on A removes A.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import shapely

from tests.geo.fakes import UTM33_CRS, UTM33_TRANSFORM, make_geotiff
from tests.pipeline.conftest import pixel_polygon

WIDTH, HEIGHT = 128, 96
A, B = (20, 30, 56, 62), (76, 38, 92, 54)  # col0, row0, col1, row1
BOX_PX = (12.0, 22.0, 100.0, 70.0)
#: a click on B, and a click on A (pixel centres)
ON_B, ON_A = (84.5, 46.5), (38.5, 46.5)


def write_scene(path: Path) -> Path:
    """The 128 x 96 px uint8 RGB GeoTIFF in EPSG:32633 (0.5 m pixels)."""
    rng = np.random.default_rng(0)
    image = rng.normal(110, 6, (HEIGHT, WIDTH, 3))
    for (c0, r0, c1, r1), colour in ((A, (200, 60, 50)), (B, (50, 70, 210))):
        image[r0:r1, c0:c1] = rng.normal(0, 5, (r1 - r0, c1 - c0, 3)) + colour
    data = np.clip(image, 0, 255).astype(np.uint8).transpose(2, 0, 1)
    return make_geotiff(path, data=data, width=WIDTH, height=HEIGHT)


def to_crs(points_px: list[tuple[float, float]], crs: str) -> list[tuple[float, float]]:
    """Pixel points of the scene -> XY in ``crs``."""
    utm = [UTM33_TRANSFORM @ p for p in points_px]
    if crs == UTM33_CRS:
        return utm
    to = pyproj.Transformer.from_crs(UTM33_CRS, crs, always_xy=True)
    return [to.transform(x, y) for x, y in utm]


def box_in(crs: str) -> tuple[float, float, float, float]:
    """The prompt box in ``crs`` (its densified envelope, slightly inside the pixel box)."""
    x0, y0, x1, y1 = BOX_PX
    left, top = UTM33_TRANSFORM @ (x0 + 0.2, y0 + 0.2)
    right, bottom = UTM33_TRANSFORM @ (x1 - 0.2, y1 - 0.2)
    if crs == UTM33_CRS:
        return left, bottom, right, top
    to = pyproj.Transformer.from_crs(UTM33_CRS, crs, always_xy=True)
    return to.transform_bounds(left, bottom, right, top, densify_pts=21)


def covered(geometry: shapely.Geometry, rect: tuple[int, int, int, int]) -> float:
    """Fraction of the object ``rect`` covered by ``geometry`` (in the scene CRS)."""
    target = pixel_polygon(*rect, UTM33_TRANSFORM)
    return geometry.intersection(target).area / target.area
