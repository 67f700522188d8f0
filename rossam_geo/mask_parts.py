"""The parts of a window mask, chosen on the raster before polygons: the part of the box (and those under
clicks on the object), small holes and islands removed.

Pixel convention (rasterio's): x right (columns), y down (rows); pixel (col, row) covers
[col, col + 1) x [row, row + 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["keep_box_parts", "remove_small_regions"]


def keep_box_parts(
    mask: np.ndarray,
    box_px_xyxy: Sequence[float] | np.ndarray | None = None,
    *,
    all_parts: bool = False,
    keep_points_px: np.ndarray | None = None,
) -> np.ndarray:
    """Keep the 4-connected parts of a mask that overlap a box's interior (on the raster, before polygons).

    Overlaps are areas in pixels: a pixel that the box edge cuts counts with the fraction inside the box, so
    the part chosen is the one whose polygon has the largest intersection with the box polygon.

    Args:
        mask: (H, W) bool mask.
        box_px_xyxy: (4,) XYXY box in the mask's pixel frame (fractional pixels allowed); None: no box.
        all_parts: keep every overlapping part (without a box: every part) instead of the one with the
            largest overlap (ties: the larger part; without a box: the largest part).
        keep_points_px: (P, 2) XY points in the mask's pixel frame (clicks on the object): the parts holding
            one are kept as well.

    Returns:
        (H, W) bool mask; empty when no part overlaps the box (and none holds a point).
    """
    import cv2

    mask_bool = np.asarray(mask).astype(bool)
    if box_px_xyxy is None and all_parts:
        return mask_bool
    count, labels = cv2.connectedComponents(mask_bool.astype(np.uint8), connectivity=4)
    held = _labels_at(labels, keep_points_px)
    sizes = np.bincount(labels.ravel(), minlength=count)
    sizes[0] = 0  # background
    if box_px_xyxy is None:
        largest = [int(np.argmax(sizes))] if count > 1 else []
        return np.isin(labels, [*largest, *held])
    height, width = mask_bool.shape
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    c0, r0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    c1, r1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if c1 <= c0 or r1 <= r0:
        return np.isin(labels, held)
    cols, rows = np.arange(c0, c1, dtype=np.float64), np.arange(r0, r1, dtype=np.float64)
    weight_x = np.clip(np.minimum(cols + 1, x1) - np.maximum(cols, x0), 0.0, 1.0)
    weight_y = np.clip(np.minimum(rows + 1, y1) - np.maximum(rows, y0), 0.0, 1.0)
    overlap = np.bincount(
        labels[r0:r1, c0:c1].ravel(), weights=np.outer(weight_y, weight_x).ravel(), minlength=count
    )
    overlap[0] = 0.0
    touching = np.flatnonzero(overlap > 0)
    if touching.size == 0:
        return np.isin(labels, held)
    if all_parts:
        return np.isin(labels, [*touching, *held]) & mask_bool
    best = int(max(touching, key=lambda k: (overlap[k], sizes[k])))
    return np.isin(labels, [best, *held])


def _labels_at(labels: np.ndarray, points_px_xy: np.ndarray | None) -> list[int]:
    """The part labels (not 0, the background) under XY points of a label image; points outside count none."""
    if points_px_xy is None or len(points_px_xy) == 0:
        return []
    points = np.asarray(points_px_xy, dtype=np.float64).reshape(-1, 2)
    cols, rows = np.floor(points[:, 0]).astype(int), np.floor(points[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < labels.shape[1]) & (rows >= 0) & (rows < labels.shape[0])
    return sorted({int(v) for v in labels[rows[inside], cols[inside]]} - {0})


def remove_small_regions(
    mask: np.ndarray, min_region_px: float, *, keep: np.ndarray | None = None
) -> np.ndarray:
    """Fill the holes and drop the islands of a mask smaller than ``min_region_px`` pixels.

    This is SAM's own mask post-processing (``segment_anything.utils.amg.remove_small_regions``, run for holes
    and then islands), with two differences that keep objects whole: a hole is a background region enclosed
    by the mask (8-connected, not touching the window's edge), and an island (4-connected part) that overlaps
    ``keep`` is never dropped, nor the largest one when all are small.

    Args:
        mask: (H, W) bool mask.
        min_region_px: area threshold in pixels; 0 returns the mask unchanged.
        keep: (H, W) bool, pixels whose islands stay whatever their size (the part chosen for the box).

    Returns:
        (H, W) bool mask.
    """
    import cv2

    mask_bool = np.asarray(mask).astype(bool)
    if min_region_px <= 0 or not mask_bool.any():
        return mask_bool
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask_bool).astype(np.uint8), connectivity=8)
    if count > 1:
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        small = stats[:, cv2.CC_STAT_AREA] < min_region_px
        small[0] = False  # label 0: the mask itself
        small[edge] = False
        if small.any():
            mask_bool = mask_bool | small[labels]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask_bool.astype(np.uint8), connectivity=4)
    if count <= 2:
        return mask_bool
    sizes = stats[:, cv2.CC_STAT_AREA].copy()
    sizes[0] = 0
    kept = sizes >= min_region_px
    kept[int(np.argmax(sizes))] = True
    if keep is not None:
        kept[np.unique(labels[np.asarray(keep, bool) & mask_bool])] = True
    kept[0] = False
    return kept[labels]
