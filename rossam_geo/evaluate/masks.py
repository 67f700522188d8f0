"""Object masks stored as their bounding crop, and scoring on a crop around two masks.

A :class:`CroppedMask` keeps only the tight bounding box of an object's pixels plus its offset in the image,
so a dataset of thousands of small objects in large scenes costs memory in proportion to the objects, not the
scenes. Scores are computed on a window around the union of the two masks' boxes with a margin of ``d + 1``
pixels; since everything outside that window is background, the erosion there equals the erosion of the
full image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from rossam_geo.errors import InputError
from rossam_geo.evaluate.metrics import PairScores, score_pair


@dataclass(frozen=True)
class CroppedMask:
    """A bool mask in an image, stored as the tight crop around its True pixels.

    Attributes:
        crop: (h, w) bool, the mask inside its bounding box; (0, 0) when the mask is empty.
        row_off: row of ``crop[0, 0]`` in the image, pixels.
        col_off: column of ``crop[0, 0]`` in the image, pixels.
        image_shape: (height, width) of the full image, pixels.
    """

    crop: np.ndarray
    row_off: int
    col_off: int
    image_shape: tuple[int, int]

    @classmethod
    def empty(cls, image_shape: tuple[int, int]) -> CroppedMask:
        """An empty mask in an image of ``image_shape`` (height, width)."""
        return cls(np.zeros((0, 0), dtype=bool), 0, 0, (int(image_shape[0]), int(image_shape[1])))

    @classmethod
    def from_window(
        cls, window_mask: np.ndarray, row_off: int, col_off: int, image_shape: tuple[int, int]
    ) -> CroppedMask:
        """Crop a mask given on a window of the image to its True pixels.

        Args:
            window_mask: (h, w) array, nonzero = object; the part outside the image is dropped.
            row_off: image row of ``window_mask[0, 0]`` (may be negative).
            col_off: image column of ``window_mask[0, 0]`` (may be negative).
            image_shape: (height, width) of the image.
        """
        if window_mask.ndim != 2:
            raise InputError(f"a mask must be 2-D, got shape {window_mask.shape}")
        height, width = int(image_shape[0]), int(image_shape[1])
        top, left = max(0, -row_off), max(0, -col_off)
        bottom = min(window_mask.shape[0], height - row_off)
        right = min(window_mask.shape[1], width - col_off)
        if bottom <= top or right <= left:
            return cls.empty((height, width))
        inside = window_mask[top:bottom, left:right] != 0
        rows = np.flatnonzero(inside.any(axis=1))
        if rows.size == 0:
            return cls.empty((height, width))
        cols = np.flatnonzero(inside.any(axis=0))
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        crop = np.ascontiguousarray(inside[r0:r1, c0:c1])
        return cls(crop, row_off + top + r0, col_off + left + c0, (height, width))

    @classmethod
    def from_full(cls, mask: np.ndarray) -> CroppedMask:
        """Crop a full-image (H, W) mask (nonzero = object)."""
        return cls.from_window(mask, 0, 0, (mask.shape[0], mask.shape[1]))

    @property
    def is_empty(self) -> bool:
        """True when the mask has no pixel."""
        return self.crop.size == 0

    @property
    def area_px(self) -> int:
        """Number of mask pixels."""
        return int(np.count_nonzero(self.crop))

    @property
    def box_px_xyxy(self) -> tuple[int, int, int, int] | None:
        """Bounding box (xmin, ymin, xmax, ymax) as pixel edges, or None when empty."""
        if self.is_empty:
            return None
        h, w = self.crop.shape
        return (self.col_off, self.row_off, self.col_off + w, self.row_off + h)

    def window(self, row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        """The mask on the image window rows [row0, row1) x columns [col0, col1), as a new bool array."""
        out = np.zeros((max(0, row1 - row0), max(0, col1 - col0)), dtype=bool)
        if self.is_empty:
            return out
        h, w = self.crop.shape
        r0, c0 = max(row0, self.row_off), max(col0, self.col_off)
        r1, c1 = min(row1, self.row_off + h), min(col1, self.col_off + w)
        if r1 > r0 and c1 > c0:
            out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = self.crop[
                r0 - self.row_off : r1 - self.row_off, c0 - self.col_off : c1 - self.col_off
            ]
        return out

    def to_full(self) -> np.ndarray:
        """The (H, W) bool mask over the whole image."""
        return self.window(0, 0, self.image_shape[0], self.image_shape[1])


def union_box(masks: Iterable[CroppedMask]) -> tuple[int, int, int, int] | None:
    """Bounding box (xmin, ymin, xmax, ymax) of all given masks, pixel edges; None when all are empty."""
    boxes = [m.box_px_xyxy for m in masks]
    present = [b for b in boxes if b is not None]
    if not present:
        return None
    arr = np.asarray(present)
    return (int(arr[:, 0].min()), int(arr[:, 1].min()), int(arr[:, 2].max()), int(arr[:, 3].max()))


def union_masks(masks: Iterable[CroppedMask], image_shape: tuple[int, int]) -> CroppedMask:
    """Pixelwise union of masks of the same image."""
    items = list(masks)
    for m in items:
        if tuple(m.image_shape) != tuple(image_shape):
            raise InputError(
                f"cannot merge a mask of image shape {m.image_shape} into an image {image_shape}"
            )
    box = union_box(items)
    if box is None:
        return CroppedMask.empty(image_shape)
    x0, y0, x1, y1 = box
    merged = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for m in items:
        merged |= m.window(y0, x0, y1, x1)
    return CroppedMask.from_window(merged, y0, x0, image_shape)


def score_cropped(gt: CroppedMask, pred: CroppedMask, dilation: int) -> PairScores:
    """IoU, Boundary IoU and boundary score, computed on a window around both masks.

    The window is the union of both boxes grown by ``dilation + 1`` pixels and clamped to the image; the
    result equals :func:`rossam_geo.evaluate.metrics.score_pair` on the full image.

    Args:
        gt: ground-truth mask.
        pred: predicted mask in the same image.
        dilation: Boundary IoU band width in pixels.
    """
    if tuple(gt.image_shape) != tuple(pred.image_shape):
        raise InputError(
            f"prediction is on an image of shape {pred.image_shape} but the ground truth on "
            f"{gt.image_shape}; predictions must use the ground truth's pixel grid"
        )
    box = union_box([gt, pred])
    if box is None:
        empty = np.zeros((1, 1), dtype=bool)
        return score_pair(empty, empty, dilation)
    margin = int(dilation) + 1
    height, width = gt.image_shape
    x0, y0 = max(0, box[0] - margin), max(0, box[1] - margin)
    x1, y1 = min(width, box[2] + margin), min(height, box[3] + margin)
    return score_pair(gt.window(y0, x0, y1, x1), pred.window(y0, x0, y1, x1), dilation)
