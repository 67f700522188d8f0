"""Clicks through the pipeline: mapped into the engine's input as the boxes are, never moving the window,
left out (and said so) outside it, and the mask parts they lie on kept."""

from __future__ import annotations

import numpy as np
from affine import Affine

from rossam_geo.engines import get_engine
from rossam_geo.geo import keep_box_parts
from rossam_geo.pipeline.polygons import PolygonSettings, iter_box_polygons
from rossam_geo.pipeline.run import ArraySource, iter_box_masks
from tests.pipeline.conftest import key_pixels, pixel_polygon
from tests.pipeline.oracle import OracleEngine

#: two objects inside one box: A (cols 10-29, rows 12-31) and the smaller B (cols 40-47, rows 16-23).
A, B = (10, 12, 30, 32), (40, 16, 48, 24)
BOX = np.array([[6.0, 8.0, 52.0, 36.0]])


def _image() -> np.ndarray:
    return np.ascontiguousarray(key_pixels(64, 80, [A, B]).transpose(1, 2, 0))


def test_clicks_reach_the_engine_mapped_as_the_box_and_the_window_stays():
    engine = OracleEngine(input_size_px=128)
    clicks = [(np.array([[44.5, 20.5], [20.0, 20.0]]), np.array([1, 0]))]
    (plain,) = iter_box_masks(ArraySource(_image()), BOX, engine, crop_size=48, upsample=2.0)
    (clicked,) = iter_box_masks(ArraySource(_image()), BOX, engine, crop_size=48, upsample=2.0, points=clicks)
    assert clicked.plan == plain.plan  # planned from the box alone
    plan = clicked.plan
    assert engine.clicks[0] is None  # no clicks: the engine is called as for boxes alone
    points, labels = engine.clicks[1]
    expected = (clicks[0][0] - [plan.col_off, plan.row_off]) * [plan.scale_x, plan.scale_y]
    np.testing.assert_array_equal(points[0], expected)
    np.testing.assert_array_equal(labels[0], [1, 0])
    np.testing.assert_array_equal(engine.calls[1][1][0], plan.box_to_model(BOX[0]))
    assert clicked.reason == ""


def test_clicks_outside_the_window_are_left_out_and_reported():
    engine = OracleEngine(input_size_px=128)
    clicks = [(np.array([[44.5, 20.5], [79.0, 63.0]]), np.array([1, 1]))]
    (outcome,) = iter_box_masks(ArraySource(_image()), BOX, engine, crop_size=48, points=clicks)
    assert outcome.plan.col_off + outcome.plan.width < 79  # the second click is outside the window
    points, labels = engine.clicks[0]
    assert points.shape == (1, 1, 2) and labels.tolist() == [[1]]
    assert outcome.status == "ok"
    assert outcome.reason == "1 click(s) outside the box's window of 56 px left out"


def test_boxes_without_clicks_are_padded_in_a_batch_with_clicks():
    engine = OracleEngine(input_size_px=None, max_batch=4)
    boxes = np.concatenate([BOX, BOX])
    clicks = [None, (np.array([[44.5, 20.5], [12.5, 14.5]]), np.array([1, 0]))]
    list(iter_box_masks(ArraySource(_image()), boxes, engine, crop_size=64, points=clicks))
    points, labels = engine.clicks[0]
    assert labels.tolist() == [[-1, -1], [1, 0]]


def test_the_part_under_a_click_on_the_object_is_kept():
    transform = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)
    settings = PolygonSettings.for_scene(transform, None)
    engine = OracleEngine(input_size_px=None)
    results = {}
    for name, clicks in (("box", None), ("click on B", [(np.array([[44.5, 20.5]]), np.array([1]))])):
        ((outcome, polygon),) = iter_box_polygons(
            ArraySource(_image()), BOX, engine, settings, workers=0, crop_size=64, points=clicks
        )
        results[name] = polygon.geometry
    area_a = pixel_polygon(*A, transform).area
    area_b = pixel_polygon(*B, transform).area
    assert results["box"].area == area_a  # the part overlapping the box most
    assert results["click on B"].area == area_a + area_b
    assert results["click on B"].covers(pixel_polygon(*B, transform))


def test_keep_box_parts_keeps_parts_under_points_only():
    mask = np.zeros((20, 30), bool)
    mask[2:12, 2:14] = True  # the part of the box
    mask[4:8, 20:24] = True  # a second part
    mask[15:18, 25:28] = True  # a third part
    box = (0, 0, 26, 14)
    assert keep_box_parts(mask, box).sum() == 120
    kept = keep_box_parts(mask, box, keep_points_px=np.array([[21.5, 5.5], [100.0, 100.0]]))
    assert kept.sum() == 120 + 16 and not kept[15:18, 25:28].any()


def test_box_engine_ignores_clicks():
    engine = get_engine("box")
    clicks = [(np.array([[44.5, 20.5]]), np.array([0]))]
    (plain,) = iter_box_masks(ArraySource(_image()), BOX, engine)
    (clicked,) = iter_box_masks(ArraySource(_image()), BOX, engine, points=clicks)
    assert np.array_equal(plain.mask, clicked.mask)
