"""Mask IoU and Boundary IoU on boolean masks.

Conventions:
    * Masks are ``bool`` arrays of shape (H, W) in one image's pixel grid (row = y down, column = x right).
    * When the union of the two compared sets is empty (both masks empty), the score is 0.0, as in
      ``pycocotools.mask.iou``. An empty prediction against a non-empty ground truth scores 0.0, and so does a
      non-empty prediction against an empty ground truth.
    * Boundary IoU follows Cheng et al. (2021): the boundary of a mask is the mask minus its erosion, the
      erosion being ``d`` passes of a 3x3 kernel over the mask zero-padded by one pixel (so objects touching
      the image border get a boundary there too); ``d = max(1, round(ratio * diagonal))`` with Python's
      ``round`` (half to even), ``ratio`` 0.02 by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from rossam_geo.errors import InputError

#: Default dilation ratio of Boundary IoU (fraction of the diagonal), as in the official implementation.
DEFAULT_DILATION_RATIO = 0.02

_KERNEL_3X3 = np.ones((3, 3), dtype=np.uint8)


def _check_pair(gt_mask: np.ndarray, pred_mask: np.ndarray) -> None:
    if gt_mask.shape != pred_mask.shape or gt_mask.ndim != 2:
        raise InputError(
            f"masks must be 2-D and the same shape, got ground truth {gt_mask.shape} and prediction "
            f"{pred_mask.shape}; rasterize both on the same pixel grid"
        )


def _ratio(numerator: int, denominator: int) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else 0.0


def mask_iou(gt_mask: np.ndarray, pred_mask: np.ndarray) -> float:
    """Intersection over union of two masks.

    Args:
        gt_mask: (H, W) bool, ground truth.
        pred_mask: (H, W) bool, prediction.

    Returns:
        |gt and pred| / |gt or pred| in [0, 1]; 0.0 when both masks are empty.
    """
    _check_pair(gt_mask, pred_mask)
    gt = gt_mask.astype(bool, copy=False)
    pred = pred_mask.astype(bool, copy=False)
    return _ratio(int(np.count_nonzero(gt & pred)), int(np.count_nonzero(gt | pred)))


def dilation_px(height_px: float, width_px: float, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """Boundary width ``d`` in pixels for a region of the given size.

    Args:
        height_px: height of the region whose diagonal sets the width (the full image, or an object's box).
        width_px: its width in pixels.
        dilation_ratio: fraction of the diagonal, > 0.

    Returns:
        ``max(1, round(dilation_ratio * sqrt(height_px**2 + width_px**2)))``.
    """
    if not dilation_ratio > 0 or not math.isfinite(dilation_ratio):
        raise InputError(
            f"dilation ratio must be a positive number, got {dilation_ratio!r}; the default is 0.02"
        )
    return max(1, int(round(dilation_ratio * math.hypot(height_px, width_px))))


def mask_boundary(mask: np.ndarray, dilation: int) -> np.ndarray:
    """Inner boundary band of a mask: the mask minus its ``dilation``-times eroded copy.

    Args:
        mask: (H, W) bool.
        dilation: number of 3x3 erosion passes (the band's width in pixels), >= 1.

    Returns:
        (H, W) bool, True on mask pixels within ``dilation`` pixels (chessboard distance) of the background or
        of the image border.
    """
    if mask.ndim != 2:
        raise InputError(f"mask must be 2-D, got shape {mask.shape}")
    if dilation < 1:
        raise InputError(f"boundary dilation must be >= 1 pixel, got {dilation}")
    mask_u8 = mask.astype(np.uint8)
    if mask_u8.size == 0:
        return mask_u8.astype(bool)
    padded = cv2.copyMakeBorder(mask_u8, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, _KERNEL_3X3, iterations=int(dilation))[1:-1, 1:-1]
    return (mask_u8 > 0) & (eroded == 0)


def boundary_iou(gt_mask: np.ndarray, pred_mask: np.ndarray, dilation: int) -> float:
    """Boundary IoU of two masks in the same pixel grid.

    Args:
        gt_mask: (H, W) bool, ground truth.
        pred_mask: (H, W) bool, prediction.
        dilation: boundary width in pixels (see :func:`dilation_px`; the official score uses the full
            image's diagonal).

    Returns:
        |Bg and Bp| / |Bg or Bp| in [0, 1]; 0.0 when both boundaries are empty.
    """
    _check_pair(gt_mask, pred_mask)
    gt_boundary = mask_boundary(gt_mask, dilation)
    pred_boundary = mask_boundary(pred_mask, dilation)
    return _ratio(
        int(np.count_nonzero(gt_boundary & pred_boundary)), int(np.count_nonzero(gt_boundary | pred_boundary))
    )


def boundary_score(iou: float, biou: float) -> float:
    """The official per-object boundary score: ``min(mask IoU, Boundary IoU)``."""
    return min(iou, biou)


@dataclass(frozen=True)
class PairScores:
    """Scores of one prediction against one ground truth.

    Attributes:
        iou: mask IoU.
        biou: Boundary IoU with the band width ``dilation_px``.
        boundary: ``min(iou, biou)``.
        dilation_px: band width used, in pixels.
    """

    iou: float
    biou: float
    boundary: float
    dilation_px: int


def score_pair(gt_mask: np.ndarray, pred_mask: np.ndarray, dilation: int) -> PairScores:
    """IoU, Boundary IoU and boundary score of two full masks in one call.

    Args:
        gt_mask: (H, W) bool.
        pred_mask: (H, W) bool.
        dilation: Boundary IoU band width in pixels.
    """
    iou = mask_iou(gt_mask, pred_mask)
    biou = boundary_iou(gt_mask, pred_mask, dilation)
    return PairScores(iou=iou, biou=biou, boundary=boundary_score(iou, biou), dilation_px=int(dilation))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``; tied values share the mean of their ranks.

    Args:
        values: (N,) numbers.

    Returns:
        (N,) float64 ranks.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(v, kind="mergesort")
    _, first, counts = np.unique(v[order], return_index=True, return_counts=True)
    ranks_sorted = np.repeat(first + (counts - 1) / 2.0 + 1.0, counts)
    ranks = np.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


def spearman_correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation: the Pearson correlation of the average ranks of ``x`` and ``y``.

    Args:
        x, y: (N,) paired numbers, finite.

    Returns:
        The correlation in [-1, 1], or None when it is undefined: fewer than 3 pairs, or either side constant
        (e.g. an engine whose score is always 1).

    Raises:
        InputError: ``x`` and ``y`` differ in length.
    """
    a, b = np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise InputError(f"need paired values, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[0] < 3:
        return None
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum()) * float((rb * rb).sum()))
    if denominator == 0.0:
        return None
    return float(np.clip((ra * rb).sum() / denominator, -1.0, 1.0))
