"""Boxes to scene pixels: same CRS, reprojection by densified outline, rotated and flipped affines, errors."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from affine import Affine

from rossam_geo.errors import CRSError, InputError
from rossam_geo.geo import boxes_to_pixels
from tests.geo.fakes import LAEA_PROJ, UTM33_CRS, UTM33_TRANSFORM, make_scene_info

WGS84 = pyproj.CRS.from_epsg(4326)
UTM33 = pyproj.CRS.from_user_input(UTM33_CRS)


def dense_reference(box: list[float], src: pyproj.CRS, dst: pyproj.CRS, n: int = 4001) -> np.ndarray:
    """Envelope in ``dst`` of the box outline sampled with ``n`` points per edge."""
    xmin, ymin, xmax, ymax = box
    t = np.linspace(0.0, 1.0, n)
    xs = np.concatenate(
        [xmin + (xmax - xmin) * t, np.full(n, xmax), xmax - (xmax - xmin) * t, np.full(n, xmin)]
    )
    ys = np.concatenate(
        [np.full(n, ymin), ymin + (ymax - ymin) * t, np.full(n, ymax), ymax - (ymax - ymin) * t]
    )
    x, y = pyproj.Transformer.from_crs(src, dst, always_xy=True).transform(xs, ys)
    return np.array([x.min(), y.min(), x.max(), y.max()])


def north_up_pixels(bounds: np.ndarray, transform: Affine) -> np.ndarray:
    """Pixel box of map bounds for a north-up transform (a > 0, e < 0), written out by hand."""
    xmin, ymin, xmax, ymax = bounds
    return np.array(
        [
            (xmin - transform.c) / transform.a,
            (ymax - transform.f) / transform.e,
            (xmax - transform.c) / transform.a,
            (ymin - transform.f) / transform.e,
        ]
    )


def test_same_crs_boxes_map_exactly_to_pixels():
    scene = make_scene_info()
    boxes = np.array([[500002.0, 4999990.0, 500010.0, 4999998.0], [500000.0, 4999999.5, 500000.5, 5000000.0]])
    pixels = boxes_to_pixels(boxes, UTM33, scene)
    np.testing.assert_allclose(pixels, [[4, 4, 20, 20], [0, 0, 1, 1]], atol=1e-9)


def test_large_geographic_box_uses_the_densified_outline():
    transform = Affine(10.0, 0.0, 400_000.0, 0.0, -10.0, 5_200_000.0)
    scene = make_scene_info(transform=transform)
    box = [14.0, 45.0, 16.0, 46.0]  # straddles the zone's central meridian (15 E)
    pixels = boxes_to_pixels(np.array([box]), WGS84, scene)[0]
    expected = north_up_pixels(dense_reference(box, WGS84, UTM33), transform)
    np.testing.assert_allclose(pixels, expected, atol=0.01)
    # the two-corner transform misses the curvature of the parallels: the bottom edge bows south
    to_utm = pyproj.Transformer.from_crs(WGS84, UTM33, always_xy=True)
    (x0, x1), (y0, y1) = to_utm.transform([box[0], box[2]], [box[1], box[3]])
    two_corner = north_up_pixels(np.array([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]), transform)
    assert abs(pixels[3] - two_corner[3]) > 40.0  # the corners miss the bottom edge by ~490 m
    assert pixels[3] > two_corner[3]


def test_geographic_box_over_custom_laea_scene():
    transform = Affine(5.0, 0.0, -200_000.0, 0.0, -5.0, 200_000.0)
    scene = make_scene_info(crs=LAEA_PROJ, transform=transform)
    box = [-101.0, 44.5, -99.5, 45.5]
    pixels = boxes_to_pixels(np.array([box]), WGS84, scene)[0]
    expected = north_up_pixels(dense_reference(box, WGS84, pyproj.CRS.from_proj4(LAEA_PROJ)), transform)
    # 21 points per edge sample the curved edge's extreme to within a tenth of a 5 m pixel
    np.testing.assert_allclose(pixels, expected, atol=0.1)


def test_utm_box_over_geographic_scene():
    transform = Affine(0.0001, 0.0, 14.0, 0.0, -0.0001, 46.0)
    scene = make_scene_info(crs="EPSG:4326", transform=transform)
    box = [480_000.0, 5_050_000.0, 520_000.0, 5_060_000.0]
    pixels = boxes_to_pixels(np.array([box]), UTM33, scene)[0]
    expected = north_up_pixels(dense_reference(box, UTM33, WGS84), transform)
    np.testing.assert_allclose(pixels, expected, atol=0.01)


def test_flipped_and_rotated_affines():
    bounds = np.array([[10.0, 20.0, 30.0, 60.0]])
    # south-up and east-left: x = 100 - 2 col, y = 200 + 4 row
    flipped = make_scene_info(transform=Affine(-2.0, 0.0, 100.0, 0.0, 4.0, 200.0))
    # rotated 90 degrees: x = 50 + 2 row, y = 80 + 2 col
    rotated = make_scene_info(transform=Affine(0.0, 2.0, 50.0, 2.0, 0.0, 80.0))
    flipped_px = boxes_to_pixels(bounds, UTM33, flipped)
    rotated_px = boxes_to_pixels(bounds + [100.0, 100.0, 100.0, 100.0], UTM33, rotated)
    np.testing.assert_allclose(flipped_px, [[35.0, -45.0, 45.0, -35.0]])
    np.testing.assert_allclose(rotated_px, [[20.0, 30.0, 40.0, 40.0]])


def test_oblique_rotation_gives_the_envelope_of_the_mapped_corners():
    transform = UTM33_TRANSFORM @ Affine.rotation(30.0)
    scene = make_scene_info(transform=transform)
    pixel_box = (10.0, 20.0, 50.0, 40.0)
    corners_map = [transform @ (x, y) for x in pixel_box[0::2] for y in pixel_box[1::2]]
    xs, ys = zip(*corners_map, strict=True)
    bounds = np.array([[min(xs), min(ys), max(xs), max(ys)]])
    pixels = boxes_to_pixels(bounds, UTM33, scene)[0]
    back = [~transform @ (x, y) for x in (min(xs), max(xs)) for y in (min(ys), max(ys))]
    cols, rows = zip(*back, strict=True)
    np.testing.assert_allclose(pixels, [min(cols), min(rows), max(cols), max(rows)], atol=1e-6)
    assert pixels[0] < pixel_box[0] and pixels[2] > pixel_box[2]  # contains the original pixel box


def test_pixel_boxes_on_non_georeferenced_scene_are_kept_and_ordered():
    scene = make_scene_info(crs=None)
    boxes = np.array([[5.0, 6.0, 15.5, 20.0], [30.0, 8.0, 10.0, 2.0], [np.nan, 1.0, 2.0, 3.0]])
    pixels = boxes_to_pixels(boxes, None, scene)
    np.testing.assert_array_equal(pixels[:2], [[5.0, 6.0, 15.5, 20.0], [10.0, 2.0, 30.0, 8.0]])
    assert np.isnan(pixels[2, 0])


def test_nan_rows_stay_nan_among_reprojected_boxes():
    scene = make_scene_info()
    boxes = np.array([[15.0, 45.0, 15.001, 45.001], [np.nan] * 4, [15.0, np.nan, 15.001, 45.001]])
    pixels = boxes_to_pixels(boxes, WGS84, scene)
    assert np.isfinite(pixels[0]).all() and np.isnan(pixels[1:]).all()


def test_crs_mismatch_errors():
    with pytest.raises(
        CRSError,
        match=r"prompts have no CRS; pass --prompts-crs or --pixel \(scene 'scene.tif' is in "
        r"'WGS 84 / UTM zone 33N'; --pixel reads the boxes as pixel coordinates\)",
    ):
        boxes_to_pixels(np.zeros((1, 4)), None, make_scene_info())
    with pytest.raises(
        CRSError, match=r"prompts are in 'WGS 84' but scene 'scene.tif' has no CRS; pass --pixel"
    ):
        boxes_to_pixels(np.zeros((1, 4)), WGS84, make_scene_info(crs=None))
    with pytest.raises(InputError, match=r"boxes must have shape \(N, 4\) XYXY, got \(4,\)"):
        boxes_to_pixels(np.zeros(4), WGS84, make_scene_info())
