"""Where the pipeline reads its windows: a raster file through its reader, or an in-memory image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["ArraySource", "ReaderSource", "WindowSource"]


class WindowSource(Protocol):
    """Gives boundless RGB windows of one raster.

    Attributes:
        width, height: raster size in pixels.
    """

    width: int
    height: int

    def read_window(
        self, col_off: int, row_off: int, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rgb (height, width, 3) uint8, valid (height, width) bool); outside the raster: 0 and False."""
        ...


class ReaderSource:
    """A :class:`WindowSource` over a :class:`rossam_geo.io.RasterReader`, with fixed bands and stretch."""

    def __init__(self, reader: Any, bands: Sequence[int] | None = None, stretch: Any = None) -> None:
        self.reader = reader
        self.bands = list(bands) if bands is not None else None
        self.stretch = stretch
        self.width = int(reader.info.width)
        self.height = int(reader.info.height)

    def read_window(
        self, col_off: int, row_off: int, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read through the reader's boundless ``read_window_rgb``."""
        rgb, valid = self.reader.read_window_rgb(
            col_off, row_off, width, height, bands=self.bands, stretch=self.stretch
        )
        return rgb, valid


class ArraySource:
    """A :class:`WindowSource` over an in-memory image.

    Args:
        image: (H, W, 3) or (H, W) uint8 array; a single band is replicated to RGB.
    """

    def __init__(self, image: np.ndarray) -> None:
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise TypeError(f"image must be uint8, got {image.dtype}; convert or stretch it first")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must have shape (H, W, 3) or (H, W), got {image.shape}")
        self.image = image
        self.height, self.width = image.shape[:2]

    def read_window(
        self, col_off: int, row_off: int, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Copy the window, padding with 0 (invalid) beyond the image."""
        rgb = np.zeros((height, width, 3), np.uint8)
        valid = np.zeros((height, width), bool)
        c0, r0 = max(col_off, 0), max(row_off, 0)
        c1, r1 = min(col_off + width, self.width), min(row_off + height, self.height)
        if c1 > c0 and r1 > r0:
            rgb[r0 - row_off : r1 - row_off, c0 - col_off : c1 - col_off] = self.image[r0:r1, c0:c1]
            valid[r0 - row_off : r1 - row_off, c0 - col_off : c1 - col_off] = True
        return rgb, valid
