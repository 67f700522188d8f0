"""Rasters read whole rather than by window: the pixel grid of a raster, one band of a small mask image.

Pixel convention (rasterio's): x right (columns), y down (rows); pixel (col, row) covers
[col, col + 1) x [row, row + 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
from affine import Affine

from rossam_geo.errors import RasterError

__all__ = ["PixelGrid", "read_band", "read_pixel_grid"]


@dataclass(frozen=True)
class PixelGrid:
    """The pixel grid of a raster file, as stored in the file.

    Attributes:
        name: the file name.
        width, height: raster size in pixels.
        transform: pixel -> CRS affine as stored in the file (the identity when the file has none).
        crs: the raster's CRS, or None when it has none.
    """

    name: str
    width: int
    height: int
    transform: Affine
    crs: pyproj.CRS | None


def read_pixel_grid(path: str | Path) -> PixelGrid:
    """The pixel grid (size, transform, CRS) of a raster that GDAL can read, without reading its pixels.

    Raises:
        RasterError: the file is missing or GDAL cannot open it.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                crs = pyproj.CRS.from_user_input(ds.crs.to_wkt()) if ds.crs else None
                return PixelGrid(path.name, ds.width, ds.height, ds.transform, crs)
    except RasterioIOError as exc:
        raise RasterError(f"cannot open raster {path} ({exc}); give a GDAL-readable raster") from None


def read_band(path: str | Path, band: int = 1) -> np.ndarray:
    """Every pixel of one band of a raster that GDAL can read (meant for small images such as masks).

    Args:
        path: the raster file; georeferencing, if any, is ignored.
        band: 1-based band index.

    Returns:
        (height, width) array in the band's own dtype.

    Raises:
        RasterError: the file is missing, GDAL cannot open it, or it has no band ``band``.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                if not 1 <= band <= ds.count:
                    raise RasterError(
                        f"cannot read {path.name}: band {band} is out of range for a raster with "
                        f"{ds.count} band(s); use indexes 1 to {ds.count}"
                    )
                return ds.read(band)
    except RasterioIOError as exc:
        raise RasterError(f"cannot read {path.name}: {exc}") from exc
