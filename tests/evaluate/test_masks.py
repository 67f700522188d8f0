"""Cropped masks: round trips, unions, and crop-based scores equal to full-image scores."""

from __future__ import annotations

import numpy as np
import pytest

from rossam_geo.errors import InputError
from rossam_geo.evaluate.masks import CroppedMask, score_cropped, union_box, union_masks
from rossam_geo.evaluate.metrics import dilation_px, score_pair
from tests.evaluate.fakes import random_blobs, rect_mask


def test_from_full_keeps_tight_crop_and_round_trips():
    full = rect_mask((30, 40), 4, 7, 5, 9)
    full[20, 35] = True
    m = CroppedMask.from_full(full)
    assert (m.row_off, m.col_off) == (4, 7)
    assert m.crop.shape == (17, 29)
    assert m.box_px_xyxy == (7, 4, 36, 21)
    assert m.area_px == 46
    np.testing.assert_array_equal(m.to_full(), full)


def test_empty_mask_has_no_box():
    m = CroppedMask.from_full(np.zeros((5, 6), bool))
    assert m.is_empty and m.area_px == 0 and m.box_px_xyxy is None
    assert m.to_full().shape == (5, 6) and not m.to_full().any()


def test_from_window_drops_parts_outside_the_image():
    window = np.ones((6, 6), np.uint8)
    m = CroppedMask.from_window(window, -2, 8, (10, 10))
    # rows -2..3 -> 0..3, columns 8..13 -> 8..9
    assert m.box_px_xyxy == (8, 0, 10, 4)
    assert m.area_px == 8


def test_union_masks_and_box():
    shape = (20, 20)
    a = CroppedMask.from_full(rect_mask(shape, 1, 1, 3, 3))
    b = CroppedMask.from_full(rect_mask(shape, 10, 12, 2, 5))
    u = union_masks([a, b, CroppedMask.empty(shape)], shape)
    np.testing.assert_array_equal(u.to_full(), a.to_full() | b.to_full())
    assert union_box([a, b]) == (1, 1, 17, 12)
    assert union_masks([], shape).is_empty


def test_union_rejects_other_image_shapes():
    with pytest.raises(InputError, match=r"image shape \(5, 5\) into an image \(6, 6\)"):
        union_masks([CroppedMask.from_full(np.ones((5, 5), bool))], (6, 6))


@pytest.mark.parametrize("ratio", [0.02, 0.005, 0.1])
def test_crop_scores_equal_full_image_scores_near_every_border(ratio):
    rng = np.random.default_rng(11)
    shape = (70, 95)
    d = dilation_px(*shape, ratio)
    for _ in range(25):
        gt_full = random_blobs(rng, shape, 1)
        pred_full = random_blobs(rng, shape, 2)
        expected = score_pair(gt_full, pred_full, d)
        got = score_cropped(CroppedMask.from_full(gt_full), CroppedMask.from_full(pred_full), d)
        assert got.iou == pytest.approx(expected.iou, abs=1e-12)
        assert got.biou == pytest.approx(expected.biou, abs=1e-12)
        assert got.boundary == pytest.approx(expected.boundary, abs=1e-12)


def test_crop_scores_for_objects_touching_corners():
    shape = (50, 60)
    cases = [
        (rect_mask(shape, 0, 0, 6, 9), rect_mask(shape, 0, 1, 7, 9)),
        (rect_mask(shape, 44, 51, 6, 9), rect_mask(shape, 45, 50, 5, 10)),
        (rect_mask(shape, 0, 55, 50, 5), rect_mask(shape, 2, 54, 48, 6)),
    ]
    for gt_full, pred_full in cases:
        for d in (1, 3, 8):
            expected = score_pair(gt_full, pred_full, d)
            got = score_cropped(CroppedMask.from_full(gt_full), CroppedMask.from_full(pred_full), d)
            assert (got.iou, got.biou) == pytest.approx((expected.iou, expected.biou), abs=1e-12)


def test_crop_scores_need_the_same_image():
    a = CroppedMask.from_full(np.ones((4, 4), bool))
    b = CroppedMask.from_full(np.ones((4, 5), bool))
    with pytest.raises(InputError, match="must use the ground truth's pixel grid"):
        score_cropped(a, b, 1)


def test_crop_scores_of_two_empty_masks_are_zero():
    e = CroppedMask.empty((8, 8))
    s = score_cropped(e, e, 2)
    assert (s.iou, s.biou, s.boundary) == (0.0, 0.0, 0.0)
