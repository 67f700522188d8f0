"""Crop plans: which raster window each box is segmented in, and how it maps to the model input.

Pixel convention (rasterio's): x right (columns), y down (rows); pixel (col, row) covers
[col, col + 1) x [row, row + 1); boxes are XYXY pixel edges (floats).

Crop mode (the ROS-SAM inference pipeline): a square window centred on the box, of side
``min(crop_size, input_size_px / upsample)`` (512 for the SAM family at the defaults), is resized by the
sampling rate ``upsample`` (bicubic) to the model input. The window is shifted to lie inside the raster when
the raster is at least as large; otherwise it starts at the raster's first row / column and the part beyond
the raster is padding. A box whose long side plus a margin (10 % each side) exceeds the window gets a larger
square window of side ``ceil(long side * 1.2)``, resized down to the model input. The scale from raster pixels
to model pixels never exceeds ``upsample``; when the resized window is smaller than the model input, the
model input is padded bottom / right.

Whole-raster mode (``crop=False``): the whole raster is resized so that its long side equals the model input
(SAM's ResizeLongestSide) and padded bottom / right.

Engines with ``input_size_px=None`` take the window at native resolution (scale 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rossam_geo.errors import InputError

#: margin around a large box, as a fraction of its long side, on each side.
LARGE_BOX_MARGIN = 0.1


@dataclass(frozen=True)
class CropPlan:
    """Where one window lies in the raster and how it maps to the model input.

    Attributes:
        col_off, row_off: the window's upper-left pixel in the raster (pixels).
        width, height: the window's size in raster pixels; it may extend beyond the raster (padding).
        model_width, model_height: size of the resized window in the model input (pixels); it occupies the
            model input's upper-left corner.
        input_size_px: side of the square model input; None when the engine takes the window as it is.
    """

    col_off: int
    row_off: int
    width: int
    height: int
    model_width: int
    model_height: int
    input_size_px: int | None

    @property
    def scale_x(self) -> float:
        """Model pixels per raster pixel along x."""
        return self.model_width / self.width

    @property
    def scale_y(self) -> float:
        """Model pixels per raster pixel along y."""
        return self.model_height / self.height

    @property
    def model_shape(self) -> tuple[int, int]:
        """(rows, cols) of the image given to the engine."""
        if self.input_size_px is None:
            return self.model_height, self.model_width
        return self.input_size_px, self.input_size_px

    def box_to_model(self, box_px_xyxy: np.ndarray) -> np.ndarray:
        """Raster-pixel XYXY box(es) (..., 4) -> model-input pixels: x_model = (x_px - col_off) * scale_x."""
        box = np.asarray(box_px_xyxy, dtype=np.float64)
        offset = np.array([self.col_off, self.row_off, self.col_off, self.row_off], np.float64)
        scale = np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], np.float64)
        return (box - offset) * scale

    def box_to_window(self, box_px_xyxy: np.ndarray) -> np.ndarray:
        """Raster-pixel XYXY box(es) (..., 4) -> the window's pixel frame."""
        offset = np.array([self.col_off, self.row_off, self.col_off, self.row_off], np.float64)
        return np.asarray(box_px_xyxy, dtype=np.float64) - offset

    def points_to_window(self, points_px_xy: np.ndarray) -> np.ndarray:
        """Raster-pixel XY point(s) (..., 2) -> the window's pixel frame (as :meth:`box_to_window`)."""
        return np.asarray(points_px_xy, dtype=np.float64) - np.array([self.col_off, self.row_off], np.float64)

    def points_to_model(self, points_px_xy: np.ndarray) -> np.ndarray:
        """Raster-pixel XY point(s) (..., 2) -> model-input pixels, mapped exactly as the box corners are
        (:meth:`box_to_model`)."""
        return self.points_to_window(points_px_xy) * np.array([self.scale_x, self.scale_y], np.float64)


def check_settings(crop_size: int, upsample: float) -> None:
    """Raise InputError for a crop size or sampling rate that cannot work."""
    if not isinstance(crop_size, (int, np.integer)) or isinstance(crop_size, bool) or crop_size < 8:
        raise InputError(f"crop_size must be an integer of at least 8 pixels, got {crop_size!r}")
    if not (isinstance(upsample, (int, float)) and math.isfinite(upsample) and upsample > 0):
        raise InputError(f"upsample must be a positive number (the paper uses 2), got {upsample!r}")


def base_window_side(crop_size: int, upsample: float, input_size_px: int | None) -> int:
    """Side (raster pixels) of the window for boxes that fit in it: min(crop_size, input / upsample)."""
    if input_size_px is None:
        return int(crop_size)
    return max(1, min(int(crop_size), int(input_size_px / upsample)))


def _place(centre: float, side: int, raster_extent: int) -> int:
    """Offset of a window of ``side`` centred on ``centre``, kept inside a raster of ``raster_extent``."""
    if raster_extent < side:
        return 0
    offset = math.floor(centre - side / 2 + 0.5)
    return min(max(offset, 0), raster_extent - side)


def plan_crop(
    box_px_xyxy: np.ndarray,
    raster_width: int,
    raster_height: int,
    *,
    crop_size: int = 512,
    upsample: float = 2.0,
    input_size_px: int | None = 1024,
) -> CropPlan:
    """Plan the square window of one box (see the module docstring).

    Args:
        box_px_xyxy: (4,) finite XYXY box in raster pixels, already clipped to the raster.
        raster_width, raster_height: raster size in pixels.
        crop_size: largest window side for boxes that fit (pixels).
        upsample: sampling rate from raster to model pixels (the paper: 2, bicubic).
        input_size_px: the engine's square model input, or None for native resolution.

    Returns:
        The :class:`CropPlan`.
    """
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    side = base_window_side(crop_size, upsample, input_size_px)
    needed = math.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * LARGE_BOX_MARGIN) - 1e-9)
    side = max(side, needed)
    col_off = _place((x0 + x1) / 2, side, raster_width)
    row_off = _place((y0 + y1) / 2, side, raster_height)
    if input_size_px is None:
        model_side = side
    else:
        scale = min(float(upsample), input_size_px / side)
        model_side = min(input_size_px, int(side * scale + 0.5))
    return CropPlan(col_off, row_off, side, side, model_side, model_side, input_size_px)


def plan_whole(raster_width: int, raster_height: int, input_size_px: int | None) -> CropPlan:
    """Plan the whole raster as one window, resized so its long side equals the model input.

    The resized size follows segment_anything's ``ResizeLongestSide.get_preprocess_shape``: scale = input
    size / long side, new size ``int(side * scale + 0.5)``.
    """
    if input_size_px is None:
        return CropPlan(0, 0, raster_width, raster_height, raster_width, raster_height, None)
    scale = input_size_px * 1.0 / max(raster_height, raster_width)
    model_height, model_width = int(raster_height * scale + 0.5), int(raster_width * scale + 0.5)
    return CropPlan(0, 0, raster_width, raster_height, model_width, model_height, input_size_px)
