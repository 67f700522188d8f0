"""Whole-raster reads: a raster's pixel grid without its pixels, one band of a small mask image."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyproj
import pytest
from affine import Affine

from rossam_geo.errors import InputError, RasterError
from rossam_geo.io import PixelGrid, read_band, read_pixel_grid
from tests.geo.fakes import UTM33_TRANSFORM, make_geotiff, position_array


def test_pixel_grid_of_a_geotiff_has_its_size_transform_and_crs(utm_rgb_tif: Path) -> None:
    grid = read_pixel_grid(utm_rgb_tif)

    assert isinstance(grid, PixelGrid)
    assert (grid.name, grid.width, grid.height) == ("scene.tif", 40, 30)
    assert grid.transform == UTM33_TRANSFORM
    assert grid.crs is not None and grid.crs.equals(pyproj.CRS.from_epsg(32633))


def test_pixel_grid_of_a_plain_png_has_no_crs_and_no_warning(png_frame: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = read_pixel_grid(png_frame)

    assert grid.crs is None
    assert grid.transform == Affine.identity()
    assert (grid.width, grid.height) == (40, 30)


def test_pixel_grid_keeps_a_stored_transform_without_crs(tmp_path: Path) -> None:
    path = make_geotiff(tmp_path / "no_crs.tif", crs=None, transform=UTM33_TRANSFORM)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = read_pixel_grid(path)

    assert grid.crs is None
    assert grid.transform == UTM33_TRANSFORM


@pytest.mark.parametrize("name", ["missing.tif", "notes.tif"])
def test_pixel_grid_of_an_unreadable_raster_names_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "notes.tif":
        path.write_text("not a raster")

    with pytest.raises(RasterError, match=rf"cannot open raster .*{name}.*; give a GDAL-readable raster"):
        read_pixel_grid(path)
    with pytest.raises(InputError):
        read_pixel_grid(path)


def test_read_band_returns_the_pixels_of_the_band_asked_for(utm_rgb_tif: Path) -> None:
    expected = position_array(30, 40)

    first = read_band(utm_rgb_tif)
    second = read_band(utm_rgb_tif, band=2)

    assert first.dtype == np.uint8 and first.shape == (30, 40)
    np.testing.assert_array_equal(first, expected[0])
    np.testing.assert_array_equal(second, expected[1])


def test_read_band_of_a_png_mask_keeps_zero_and_nonzero(tmp_path: Path) -> None:
    mask = np.zeros((1, 6, 5), dtype=np.uint8)
    mask[0, 2:4, 1:3] = 255
    path = make_geotiff(tmp_path / "7.png", crs=None, transform=None, data=mask, driver="PNG")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        band = read_band(path)

    np.testing.assert_array_equal(band > 0, mask[0] > 0)


def test_read_band_out_of_range_says_which_bands_exist(utm_rgb_tif: Path) -> None:
    with pytest.raises(
        RasterError, match=r"cannot read scene\.tif: band 4 is out of range .* 3 band\(s\); use "
    ):
        read_band(utm_rgb_tif, band=4)


def test_read_band_of_a_broken_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "12.png"
    path.write_bytes(b"\x89PNG but truncated")

    with pytest.raises(RasterError, match=r"^cannot read 12\.png: "):
        read_band(path)
