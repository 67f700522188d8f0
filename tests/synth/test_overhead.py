from __future__ import annotations

import numpy as np
import pytest

from rossam_geo.synth.overhead import MIN_VISIBLE_FRACTION, MetricCanvas, new_canvas
from rossam_geo.synth.props import VEHICLE_SIZE_M, draw_tree, draw_vehicle

GREY = np.array([120.0, 120.0, 120.0], np.float32)


def _canvas(
    gsd_m: float = 0.1, sun: tuple[float, float] = (0.0, 0.0), lean: tuple[float, float] = (0.0, 0.0)
) -> MetricCanvas:
    return MetricCanvas(
        image=np.full((128, 128, 3), 100.0, np.float32),
        rng=np.random.default_rng(0),
        gsd_m=gsd_m,
        sun_px_per_m=np.array(sun),
        lean_px_per_m=np.array(lean),
        shadow_darkness=0.6,
    )


@pytest.mark.parametrize("gsd_m", [0.1, 0.2, 0.4])
def test_a_car_is_its_metric_length_in_pixels(gsd_m):
    canvas = _canvas(gsd_m)
    assert draw_vehicle(canvas, "car", np.array([64.0, 64.0]), 0.0, GREY)
    _, masks, classes = canvas.finish()
    assert classes == ["car"]
    cols = np.flatnonzero(masks[0].any(axis=0))
    lo, hi = VEHICLE_SIZE_M["car"][0]
    # A 3.7-5.0 m car heading along x, rasterised at pixel centres: within a pixel of its length.
    assert lo / gsd_m - 1 <= cols.max() - cols.min() + 1 <= hi / gsd_m + 1


def test_a_tree_over_a_car_leaves_the_visible_outline_as_the_mask():
    canvas = _canvas()
    draw_vehicle(canvas, "car", np.array([64.0, 64.0]), 0.0, GREY)
    full = canvas.objects[0].outline.sum()
    draw_tree(canvas, np.array([80.0, 64.0]), 1.2, 8.0)  # a crown over the car's front
    _, masks, _ = canvas.finish()
    assert len(masks) == 1
    visible = masks[0].sum()
    assert MIN_VISIBLE_FRACTION * full <= visible < full
    # The crown's centre pixel is not part of the car any more, the car's rear still is.
    assert not masks[0][64, 80] and masks[0][64, 46]


def test_a_mostly_hidden_car_is_not_labelled():
    canvas = _canvas()
    draw_vehicle(canvas, "car", np.array([64.0, 64.0]), 0.0, GREY)
    draw_tree(canvas, np.array([64.0, 64.0]), 4.0, 8.0)
    _, masks, classes = canvas.finish()
    assert classes == [] and masks.shape == (0, 128, 128)


def test_a_taller_leaning_vehicle_occludes_its_neighbour_and_masks_stay_disjoint():
    canvas = _canvas(lean=(3.0, 0.0))  # tops lean 3 px per metre towards +x
    draw_vehicle(canvas, "car", np.array([70.0, 64.0]), np.pi / 2, GREY)
    draw_vehicle(canvas, "bus", np.array([45.0, 64.0]), np.pi / 2, GREY)
    _, masks, classes = canvas.finish()
    assert classes == ["car", "truck"]
    assert not (masks[0] & masks[1]).any()
    assert canvas.objects[0].visible.sum() < canvas.objects[0].outline.sum()


def test_shadows_fall_away_from_the_sun_and_never_on_the_casters_top():
    canvas = _canvas(gsd_m=0.2, sun=(4.0, 0.0))  # shadows 4 px per metre of height towards +x
    draw_vehicle(canvas, "van", np.array([40.0, 64.0]), np.pi / 2, GREY)  # 9-11 px wide, along y
    before = canvas.image.copy()
    image, masks, _ = canvas.finish()
    # A van of 1.9-2.7 m casts a shadow 7.6-10.8 px long beyond its side at x of about 45, along +x only.
    assert image[64, 50].mean() < 0.7 * before[64, 50].mean()
    assert np.allclose(image[64, 28], before[64, 28])
    assert masks[0][64, 40] and np.allclose(image[64, 40], before[64, 40])


def test_new_canvas_draws_scale_sun_and_view_from_the_seed():
    a = new_canvas(64, np.random.default_rng(3), (0.1, 0.5))
    b = new_canvas(64, np.random.default_rng(3), (0.1, 0.5))
    assert 0.1 <= a.gsd_m <= 0.5 and a.gsd_m == b.gsd_m
    assert np.array_equal(a.sun_px_per_m, b.sun_px_per_m)
    # Sun elevation 20-75 degrees: shadows 0.27-2.75 m per metre of height.
    assert 0.26 <= np.hypot(*a.sun_px_per_m) * a.gsd_m <= 2.76
