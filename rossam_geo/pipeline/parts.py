"""Keep the mask part(s) that overlap a box, on raster masks (polygons: rossam_geo.geo.mask_to_geometry)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def keep_box_parts(mask: np.ndarray, box_px_xyxy: np.ndarray, *, all_parts: bool = False) -> np.ndarray:
    """Keep the 4-connected parts of a mask that overlap a box.

    Args:
        mask: (H, W) bool mask.
        box_px_xyxy: (4,) XYXY box in the mask's pixel frame.
        all_parts: keep every overlapping part instead of the one with the largest overlap (ties: the larger
            part).

    Returns:
        (H, W) bool mask; empty when no part overlaps the box.
    """
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    height, width = mask.shape
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    c0, r0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    c1, r1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    overlap = np.bincount(labels[r0:r1, c0:c1].ravel(), minlength=count)
    overlap[0] = 0  # background
    if not overlap.any():
        return np.zeros_like(mask, dtype=bool)
    if all_parts:
        return np.isin(labels, np.flatnonzero(overlap)) & mask
    sizes = np.bincount(labels.ravel(), minlength=count)
    best = max(np.flatnonzero(overlap), key=lambda k: (overlap[k], sizes[k]))
    return labels == best
