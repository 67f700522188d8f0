"""Decimated reads: GDAL shrinks a window with ``out_shape`` (averaging, sampling, or from overviews)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.env import get_gdal_config

from rossam_geo.errors import InputError
from rossam_geo.io import Stretch, open_raster
from tests.geo.fakes import exact_mean_pixels, make_geotiff


def test_factor_two_averages_each_block(tmp_path: Path):
    pixels, means = exact_mean_pixels(64, 96)
    path = make_geotiff(tmp_path / "scene.tif", data=pixels, tiled=True, blockxsize=16, blockysize=16)
    with open_raster(path) as reader:
        rgb, valid = reader.read_decimated_rgb((0, 0, 96, 64), 48, 32)
    assert rgb.shape == (32, 48, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb.transpose(2, 0, 1), means)
    assert valid.all()


def test_window_offset_is_honoured(tmp_path: Path):
    pixels, means = exact_mean_pixels(64, 96)
    path = make_geotiff(tmp_path / "scene.tif", data=pixels)
    with open_raster(path) as reader:
        rgb, _ = reader.read_decimated_rgb((8, 4, 32, 20), 16, 10)
    np.testing.assert_array_equal(rgb.transpose(2, 0, 1), means[:, 2:12, 4:20])


def test_large_factors_sample_the_block_centre(tmp_path: Path):
    pixels = np.random.default_rng(1).integers(1, 250, (3, 64, 96)).astype(np.uint8)
    path = make_geotiff(tmp_path / "scene.tif", data=pixels, tiled=True, blockxsize=16, blockysize=16)
    with open_raster(path) as reader:
        rgb, _ = reader.read_decimated_rgb((0, 0, 96, 64), 6, 4)
    np.testing.assert_array_equal(rgb.transpose(2, 0, 1), pixels[:, 8::16, 8::16])


def test_overviews_serve_the_read_when_present(tmp_path: Path):
    pixels = np.random.default_rng(2).integers(1, 250, (3, 64, 96)).astype(np.uint8)
    path = make_geotiff(tmp_path / "scene.tif", data=pixels, overviews=[4])
    with rasterio.open(path, overview_level=0) as overview:
        expected = overview.read()
    averaged = pixels.reshape(3, 16, 4, 24, 4).mean(axis=(2, 4))
    assert (
        np.abs(expected.astype(float) - averaged).max() > 20
    )  # the nearest overview differs from an average
    with open_raster(path) as reader:
        rgb, _ = reader.read_decimated_rgb((0, 0, 96, 64), 24, 16)
    np.testing.assert_array_equal(rgb.transpose(2, 0, 1), expected)


def test_nodata_is_invalid_and_stretch_applies(tmp_path: Path):
    pixels = np.full((1, 32, 32), 1000, np.uint16)
    pixels[:, :16, :16] = 0
    pixels[:, 16:, 16:] = 3000
    path = make_geotiff(tmp_path / "scene.tif", data=pixels, nodata=0)
    with open_raster(path) as reader:
        rgb, valid = reader.read_decimated_rgb(
            (0, 0, 32, 32), 2, 2, stretch=Stretch(low=(1000.0,), high=(3000.0,))
        )
    np.testing.assert_array_equal(valid, [[False, True], [True, True]])
    np.testing.assert_array_equal(rgb[..., 0], [[0, 0], [0, 255]])


def test_cache_limit_is_restored_and_bad_windows_are_refused(tmp_path: Path):
    path = make_geotiff(tmp_path / "scene.tif")
    before = get_gdal_config("GDAL_CACHEMAX")
    with open_raster(path) as reader:
        reader.read_decimated_rgb((0, 0, 40, 30), 10, 10)
        assert get_gdal_config("GDAL_CACHEMAX") == before
        with pytest.raises(InputError, match=r"leaves the 40x30 raster"):
            reader.read_decimated_rgb((-1, 0, 40, 30), 10, 10)
        with pytest.raises(InputError, match="at least 1x1"):
            reader.read_decimated_rgb((0, 0, 40, 30), 0, 10)
