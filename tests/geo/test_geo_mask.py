"""Masks to polygons in map coordinates: exact geometry, holes, part selection, simplification."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio.windows import Window
from rasterio.windows import transform as rio_window_transform
from shapely.geometry import MultiPolygon, Polygon

from rossam_geo.errors import InputError
from rossam_geo.geo import (
    keep_box_parts,
    mask_to_geometry,
    pixel_size,
    remove_small_regions,
    window_transform,
)
from tests.geo.fakes import UTM33_TRANSFORM


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # inside rasterio.windows
@pytest.mark.parametrize(("col_off", "row_off"), [(0, 0), (100, 50), (-7, -3), (3, -12)])
def test_window_transform_matches_rasterio(col_off: int, row_off: int):
    expected = rio_window_transform(Window(col_off, row_off, 10, 10), UTM33_TRANSFORM)
    assert window_transform(UTM33_TRANSFORM, col_off, row_off).almost_equals(expected)


def test_rectangle_mask_gives_the_exact_polygon_in_map_coordinates():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:6, 3:9] = True  # rows 2..5, cols 3..8
    transform = window_transform(UTM33_TRANSFORM, 100, 50)  # window origin (500050 E, 4999975 N)
    geom = mask_to_geometry(mask, transform)
    expected = shapely.box(500050 + 3 * 0.5, 4999975 - 6 * 0.5, 500050 + 9 * 0.5, 4999975 - 2 * 0.5)
    assert isinstance(geom, Polygon)
    assert shapely.equals(geom, expected)
    assert sorted(set(geom.exterior.coords)) == sorted(set(expected.exterior.coords))


def test_identity_transform_gives_pixel_coordinates():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:3, 2:5] = True
    assert shapely.equals(mask_to_geometry(mask, Affine.identity()), shapely.box(2, 1, 5, 3))


def test_rotated_transform_maps_every_pixel_corner():
    transform = UTM33_TRANSFORM @ Affine.rotation(30.0)
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:4, 2:5] = True
    geom = mask_to_geometry(mask, transform)
    expected = Polygon([transform @ (x, y) for x, y in [(2, 1), (5, 1), (5, 4), (2, 4)]])
    assert geom.symmetric_difference(expected).area < 1e-9
    assert geom.area == pytest.approx(9 * 0.25)


def test_holes_are_kept():
    mask = np.zeros((8, 8), dtype=bool)
    mask[1:7, 1:7] = True
    mask[3:5, 3:5] = False
    geom = mask_to_geometry(mask, Affine(2.0, 0.0, 0.0, 0.0, -2.0, 0.0))
    assert isinstance(geom, Polygon) and len(geom.interiors) == 1
    assert shapely.equals(Polygon(geom.interiors[0]), shapely.box(6, -10, 10, -6))
    assert geom.area == (36 - 4) * 4.0


def two_blobs() -> np.ndarray:
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:6, 2:6] = True  # 16 px, top-left
    mask[10:18, 10:18] = True  # 64 px, bottom-right
    mask[0:2, 17:20] = True  # 6 px, top-right, outside every box below
    return mask


def test_largest_overlap_part_by_default_and_all_parts_on_request():
    box = (1.0, 1.0, 13.0, 13.0)  # overlaps the small blob fully and the big one by 3x3 px
    one = mask_to_geometry(two_blobs(), Affine.identity(), box_px_xyxy=box)
    assert shapely.equals(one, shapely.box(2, 2, 6, 6))
    both = mask_to_geometry(two_blobs(), Affine.identity(), box_px_xyxy=box, all_parts=True)
    assert isinstance(both, MultiPolygon) and len(both.geoms) == 2
    assert both.area == 16 + 64  # the top-right blob outside the box is dropped


def test_without_box_the_largest_part_or_all_parts():
    assert mask_to_geometry(two_blobs(), Affine.identity()).area == 64
    assert mask_to_geometry(two_blobs(), Affine.identity(), all_parts=True).area == 16 + 64 + 6


def test_parts_outside_or_only_touching_the_box_are_dropped():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0:3, 6:10] = True
    assert mask_to_geometry(
        mask, Affine.identity(), box_px_xyxy=(0.0, 3.0, 6.0, 9.0)
    ).is_empty  # touches corner
    assert mask_to_geometry(mask, Affine.identity(), box_px_xyxy=(0, 5, 4, 9), all_parts=True).is_empty
    assert mask_to_geometry(mask, Affine.identity(), box_px_xyxy=(5.5, 2.5, 9, 9)).area == 12


def test_empty_mask_gives_empty_polygon():
    geom = mask_to_geometry(np.zeros((4, 4), dtype=bool), UTM33_TRANSFORM)
    assert isinstance(geom, Polygon) and geom.is_empty


def test_simplify_tolerance_is_in_pixels():
    mask = np.tril(np.ones((30, 30), dtype=bool))  # a staircase diagonal
    transform = Affine(0.5, 0.0, 0.0, 0.0, -0.5, 0.0)
    raw = mask_to_geometry(mask, transform)
    simple = mask_to_geometry(mask, transform, simplify_px=1.0)
    assert len(raw.exterior.coords) > 50
    assert len(simple.exterior.coords) <= 6
    assert simple.is_valid
    assert abs(simple.area - raw.area) <= 30 * 0.25  # within half a pixel along the 30 px diagonal
    assert raw.hausdorff_distance(simple) <= 1.0 * pixel_size(transform)


def test_mask_must_be_2d():
    with pytest.raises(InputError, match=r"mask must be 2-D \(height, width\), got shape \(1, 4, 4\)"):
        mask_to_geometry(np.ones((1, 4, 4), dtype=bool), Affine.identity())


def test_part_with_the_largest_fractional_overlap_wins():
    # Left part: 3 pixels wholly inside the box. Right part: 4 pixels that the box's right edge (x = 8.5)
    # cuts in half, 2 px^2 of overlap. Counting whole pixels would pick the right part; areas pick the left.
    mask = np.zeros((6, 10), dtype=bool)
    mask[1:4, 2] = True
    mask[1:5, 8] = True
    box = (1.0, 0.0, 8.5, 6.0)
    kept = keep_box_parts(mask, box)
    assert kept[1:4, 2].all() and not kept[:, 8].any()
    geom = mask_to_geometry(mask, Affine.identity(), box_px_xyxy=box)
    assert shapely.equals(geom, shapely.box(2, 1, 3, 4))


def test_speckled_mask_gives_the_polygon_chosen_among_all_parts():
    rng = np.random.default_rng(4)
    transform = Affine(0.5, 0.1, 500_000.0, 0.05, -0.5, 5_000_000.0)
    for _ in range(20):
        mask = rng.random((40, 40)) > 0.55  # hundreds of 4-connected parts
        x0, y0 = rng.uniform(0, 30, 2)
        box = (x0, y0, x0 + rng.uniform(1, 10), y0 + rng.uniform(1, 10))
        box_polygon = shapely.affinity.affine_transform(
            shapely.box(*box),
            [transform.a, transform.b, transform.d, transform.e, transform.xoff, transform.yoff],
        )
        # Every part as a polygon, the one with the largest overlap with the box (ties: larger area).
        every = mask_to_geometry(mask, transform, all_parts=True)
        parts = list(getattr(every, "geoms", [every]))
        scored = [(p.intersection(box_polygon).area, p.area, p) for p in parts]
        scored = [s for s in scored if s[0] > 0]
        chosen = mask_to_geometry(mask, transform, box_px_xyxy=box)
        if not scored:
            assert chosen.is_empty
            continue
        best_overlap = max(s[0] for s in scored)
        assert chosen.intersection(box_polygon).area == pytest.approx(best_overlap, rel=1e-9)
        kept_all = mask_to_geometry(mask, transform, box_px_xyxy=box, all_parts=True)
        assert kept_all.area == pytest.approx(sum(s[1] for s in scored), rel=1e-9)


def test_keep_box_parts_without_a_box_keeps_the_largest_or_everything():
    mask = two_blobs()
    assert keep_box_parts(mask).sum() == 64
    assert np.array_equal(keep_box_parts(mask, all_parts=True), mask)
    assert not keep_box_parts(np.zeros((5, 5), bool)).any()


def ring_with_holes() -> np.ndarray:
    """A 20x20 px square with a 1 px hole, a 3x3 px hole and a 6x6 px hole (36 px), on a 30x30 window."""
    mask = np.zeros((30, 30), dtype=bool)
    mask[5:25, 5:25] = True
    mask[8, 8] = False
    mask[8:11, 14:17] = False
    mask[15:21, 12:18] = False
    return mask


def test_small_holes_are_filled_and_large_ones_kept():
    cleaned = remove_small_regions(ring_with_holes(), 10)
    assert cleaned[8, 8] and cleaned[8:11, 14:17].all()  # 1 and 9 px: filled
    assert not cleaned[15:21, 12:18].any()  # 36 px: kept
    assert cleaned.sum() == 400 - 36
    assert np.array_equal(remove_small_regions(ring_with_holes(), 0), ring_with_holes())


def test_background_at_the_window_edge_is_not_a_hole():
    mask = np.ones((10, 10), dtype=bool)
    mask[0:2, 0:2] = False  # a 4 px notch in the corner: outside the object, not enclosed
    mask[5, 5] = False
    cleaned = remove_small_regions(mask, 10)
    assert not cleaned[0:2, 0:2].any() and cleaned[5, 5]


def test_small_islands_are_dropped_but_never_the_kept_part_or_the_last_one():
    mask = two_blobs()  # parts of 16, 64 and 6 px
    assert remove_small_regions(mask, 20).sum() == 64
    keep = np.zeros_like(mask)
    keep[3, 3] = True  # a pixel of the 16 px part
    assert remove_small_regions(mask, 20, keep=keep).sum() == 64 + 16
    alone = np.zeros((8, 8), dtype=bool)
    alone[2:4, 2:4] = True  # 4 px, the only part: kept whatever the threshold
    assert np.array_equal(remove_small_regions(alone, 100), alone)


def test_min_region_cleans_the_chosen_part_before_polygonizing():
    mask = ring_with_holes()
    mask[0:2, 28:30] = True  # a 4 px island in the corner, outside the box
    box = (4.0, 4.0, 26.0, 26.0)
    raw = mask_to_geometry(mask, Affine.identity(), box_px_xyxy=box)
    assert isinstance(raw, Polygon) and len(raw.interiors) == 3
    clean = mask_to_geometry(mask, Affine.identity(), box_px_xyxy=box, min_region_px=10)
    assert isinstance(clean, Polygon) and len(clean.interiors) == 1
    assert shapely.equals(Polygon(clean.interiors[0]), shapely.box(12, 15, 18, 21))
    assert clean.area == 400 - 36


def test_min_region_with_all_parts_drops_small_parts_but_keeps_the_box_part():
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:5, 2:5] = True  # 9 px, wholly inside the box: the part overlapping it most, kept though small
    mask[10:18, 10:18] = True  # 64 px, partly inside
    mask[2:4, 8:10] = True  # 4 px, inside the box
    box = (1.0, 1.0, 12.0, 12.0)
    every = mask_to_geometry(mask, Affine.identity(), box_px_xyxy=box, all_parts=True)
    assert every.area == 9 + 64 + 4
    cleaned = mask_to_geometry(mask, Affine.identity(), box_px_xyxy=box, all_parts=True, min_region_px=10)
    assert cleaned.area == 9 + 64
