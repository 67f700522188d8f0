"""Contrast stretch: per-band linear maps from any numeric raster type to the model's uint8."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rossam_geo.errors import InputError

__all__ = ["Stretch"]


@dataclass(frozen=True)
class Stretch:
    """Per-band linear map to uint8: ``(v - low) / (high - low) * 255``, rounded and clipped to 0..255.

    Attributes:
        low, high: one value per band of the arrays it is applied to; a single value applies to every band.
            Empty tuples mean "no stretch": values are clipped to 0..255 as they are.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.low) != len(self.high):
            raise InputError(
                f"stretch needs as many low as high values, got low={self.low} and high={self.high}"
            )

    @classmethod
    def identity(cls) -> Stretch:
        """The stretch that leaves uint8 values unchanged."""
        return cls(low=(), high=())

    @property
    def is_identity(self) -> bool:
        """True for :meth:`identity`."""
        return not self.low

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Map a (bands, h, w) array of any numeric dtype to uint8 of the same shape; NaN maps to 0."""
        if array.ndim != 3:
            raise InputError(f"stretch applies to (bands, height, width) arrays, got shape {array.shape}")
        if self.is_identity:
            if array.dtype == np.uint8:
                return array.copy()
            return np.clip(np.nan_to_num(array, nan=0.0), 0, 255).round().astype(np.uint8)
        n_bands = array.shape[0]
        if len(self.low) not in (1, n_bands):
            raise InputError(
                f"stretch has {len(self.low)} band values but the array has {n_bands} bands; "
                "compute the stretch for the same bands"
            )
        low = np.asarray(self.low, dtype=np.float64).reshape(-1, 1, 1)
        high = np.asarray(self.high, dtype=np.float64).reshape(-1, 1, 1)
        span = np.where(high > low, high - low, 1.0)
        scaled = (array.astype(np.float64) - low) / span * 255.0
        return np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round().astype(np.uint8)
