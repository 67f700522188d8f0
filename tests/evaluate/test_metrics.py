"""Mask IoU and Boundary IoU on hand-computed cases and against independent implementations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from rossam_geo.errors import InputError
from rossam_geo.evaluate.metrics import (
    average_ranks,
    boundary_iou,
    boundary_score,
    dilation_px,
    mask_boundary,
    mask_iou,
    score_pair,
    spearman_correlation,
)
from tests.evaluate.fakes import random_blobs, rect_mask

SHAPE = (40, 40)


def reference_boundary(mask: np.ndarray, d: int) -> np.ndarray:
    """Boundary by ONE erosion with a (2d+1)^2 square on the full image, outside the image = background."""
    kernel = np.ones((2 * d + 1, 2 * d + 1), np.uint8)
    eroded = cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & (eroded == 0)


def reference_biou(gt: np.ndarray, pred: np.ndarray, d: int) -> float:
    bg, bp = reference_boundary(gt, d), reference_boundary(pred, d)
    union = np.logical_or(bg, bp).sum()
    return float(np.logical_and(bg, bp).sum() / union) if union else 0.0


@pytest.mark.parametrize(
    ("height", "width", "ratio", "expected"),
    [
        (800, 800, 0.02, 23),  # 0.02 * 1131.4 = 22.6
        (1023, 1147, 0.02, 31),  # 0.02 * 1536.9 = 30.7
        (10, 10, 0.02, 1),  # 0.28 rounds to 0, floored at 1
        (1000, 0, 0.005, 5),
        (0, 0, 0.02, 1),
    ],
)
def test_dilation_px_rounds_ratio_times_diagonal(height, width, ratio, expected):
    assert dilation_px(height, width, ratio) == expected


@pytest.mark.parametrize("ratio", [0.0, -0.1, float("nan")])
def test_dilation_ratio_must_be_positive(ratio):
    with pytest.raises(InputError, match="dilation ratio must be a positive number"):
        dilation_px(10, 10, ratio)


def test_empty_prediction_scores_zero():
    gt = rect_mask(SHAPE, 5, 5, 10, 10)
    empty = np.zeros(SHAPE, bool)
    assert mask_iou(gt, empty) == 0.0
    assert boundary_iou(gt, empty, 1) == 0.0


def test_empty_ground_truth_scores_zero():
    pred = rect_mask(SHAPE, 5, 5, 10, 10)
    empty = np.zeros(SHAPE, bool)
    assert mask_iou(empty, pred) == 0.0
    assert boundary_iou(empty, pred, 3) == 0.0


def test_both_empty_score_zero_like_pycocotools():
    empty = np.zeros(SHAPE, bool)
    rle = mask_utils.encode(np.asfortranarray(empty.astype(np.uint8)))
    assert mask_utils.iou([rle], [rle], [0])[0, 0] == 0.0
    assert mask_iou(empty, empty) == 0.0
    assert boundary_iou(empty, empty, 1) == 0.0


def test_identical_masks_score_one():
    m = rect_mask(SHAPE, 3, 7, 12, 20)
    assert mask_iou(m, m) == 1.0
    assert boundary_iou(m, m, 2) == 1.0
    assert score_pair(m, m, 2).boundary == 1.0


def test_shifted_squares_hand_computed():
    # 10x10 squares, prediction shifted right by 2 px.
    gt = rect_mask(SHAPE, 10, 10, 10, 10)
    pred = rect_mask(SHAPE, 10, 12, 10, 10)
    # intersection 10x8 = 80, union 200 - 80 = 120
    assert mask_iou(gt, pred) == pytest.approx(80 / 120)
    # d=1: each boundary is the 36-px ring; only the top and bottom rows overlap (8 + 8 px) -> 16 / 56
    assert boundary_iou(gt, pred, 1) == pytest.approx(16 / 56)
    # d=2: each boundary 100 - 36 = 64 px; rows 10, 11, 18, 19 overlap on 8 columns -> 32 / (128 - 32)
    assert boundary_iou(gt, pred, 2) == pytest.approx(32 / 96)
    scores = score_pair(gt, pred, 1)
    assert scores.boundary == pytest.approx(16 / 56)


def test_thin_object_boundary_iou_differs_from_iou():
    # GT: a 1 px line of 20 px; prediction: a 3 px thick bar around it.
    gt = rect_mask(SHAPE, 5, 5, 1, 20)
    pred = rect_mask(SHAPE, 4, 5, 3, 20)
    assert mask_iou(gt, pred) == pytest.approx(20 / 60)
    # GT boundary = the whole line (20 px); pred boundary = 60 - 18 interior = 42 px; they share the two
    # end pixels of row 5 -> 2 / (20 + 42 - 2)
    assert boundary_iou(gt, pred, 1) == pytest.approx(2 / 60)
    assert boundary_score(mask_iou(gt, pred), boundary_iou(gt, pred, 1)) == pytest.approx(2 / 60)


def test_boundary_at_image_border_counts_as_edge():
    full = np.ones((10, 10), bool)
    assert mask_boundary(full, 1).sum() == 100 - 64
    assert mask_boundary(full, 2).sum() == 100 - 36
    assert not mask_boundary(full, 2)[2:8, 2:8].any()


def test_boundary_of_object_smaller_than_band_is_whole_object():
    m = rect_mask(SHAPE, 10, 10, 6, 6)
    np.testing.assert_array_equal(mask_boundary(m, 3), m)


def test_mask_iou_agrees_with_pycocotools_on_random_masks():
    rng = np.random.default_rng(7)
    for trial in range(30):
        shape = (int(rng.integers(1, 60)), int(rng.integers(1, 60)))
        density_a, density_b = rng.random(2) * (0.0 if trial == 0 else 1.0)
        a = rng.random(shape) < density_a
        b = rng.random(shape) < density_b
        rle_a = mask_utils.encode(np.asfortranarray(a.astype(np.uint8)))
        rle_b = mask_utils.encode(np.asfortranarray(b.astype(np.uint8)))
        expected = float(mask_utils.iou([rle_b], [rle_a], [0])[0, 0])
        assert mask_iou(a, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("d", [1, 2, 5, 23])
def test_boundary_iou_agrees_with_full_image_square_erosion(d):
    rng = np.random.default_rng(d)
    for _ in range(8):
        gt = random_blobs(rng, (64, 90), 3)
        pred = random_blobs(rng, (64, 90), 3)
        np.testing.assert_array_equal(mask_boundary(gt, d), reference_boundary(gt, d))
        assert boundary_iou(gt, pred, d) == pytest.approx(reference_biou(gt, pred, d), abs=1e-12)


def test_mismatched_shapes_are_rejected():
    with pytest.raises(InputError, match=r"same shape, got ground truth \(4, 4\) and prediction \(4, 5\)"):
        mask_iou(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_boundary_needs_positive_dilation():
    with pytest.raises(InputError, match="dilation must be >= 1 pixel, got 0"):
        mask_boundary(np.ones((3, 3), bool), 0)


def test_average_ranks_share_ties():
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])
    np.testing.assert_array_equal(average_ranks(np.array([5.0, 5.0, 5.0])), [2.0, 2.0, 2.0])


def test_spearman_hand_computed():
    # no ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with d = (0, 0, -1, 1)
    assert spearman_correlation([1, 2, 3, 4], [10, 20, 30, 25]) == pytest.approx(1 - 6 * 2 / (4 * 15))
    # any increasing map is a perfect rank correlation; a decreasing one is -1
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    assert spearman_correlation(x, np.exp(5 * x)) == pytest.approx(1.0)
    assert spearman_correlation(x, -(x**3)) == pytest.approx(-1.0)
    # ties: Pearson of the average ranks (1.5, 1.5, 3) and (1, 2, 3)
    assert spearman_correlation([0, 0, 1], [1, 2, 3]) == pytest.approx(
        np.corrcoef([1.5, 1.5, 3], [1, 2, 3])[0, 1]
    )


def test_spearman_is_undefined_for_constant_or_tiny_samples():
    assert spearman_correlation([1.0, 1.0, 1.0, 1.0], [0.1, 0.5, 0.2, 0.9]) is None
    assert spearman_correlation([0.3, 0.4], [0.1, 0.5]) is None
    with pytest.raises(InputError, match="need paired values, got 3 and 2"):
        spearman_correlation([1, 2, 3], [1, 2])
