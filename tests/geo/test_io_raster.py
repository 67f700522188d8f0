"""Opening rasters and reading windows: exact placement, borders, nodata, bands, formats, stretch."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window

from rossam_geo.errors import InputError, RasterError
from rossam_geo.io import Stretch, open_raster
from tests.geo.fakes import (
    LAEA_PROJ,
    UTM33_TRANSFORM,
    make_geotiff,
    position_array,
)

W, H = 40, 30


def expected_window(col_off: int, row_off: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference for a window of the default 40x30 uint8 position raster, built pixel by pixel."""
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    valid = np.zeros((height, width), dtype=bool)
    for r in range(height):
        for c in range(width):
            row, col = row_off + r, col_off + c
            if 0 <= row < H and 0 <= col < W:
                rgb[r, c] = (col + 1, row + 1, 103)
                valid[r, c] = True
    return rgb, valid


def test_open_geotiff_reads_scene_info(utm_rgb_tif: Path):
    with open_raster(utm_rgb_tif) as reader:
        info = reader.info
    assert info.crs == pyproj.CRS.from_epsg(32633)
    assert info.transform == UTM33_TRANSFORM
    assert (info.width, info.height, info.count, info.dtype, info.nodata) == (W, H, 3, "uint8", None)
    assert info.georeferenced
    assert info.name == "scene.tif" and info.path == str(utm_rgb_tif)
    assert info.pixel_area == pytest.approx(0.25)
    assert reader.closed


def test_open_png_without_georeferencing_is_silent_and_pixel_framed(png_frame: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = open_raster(png_frame)
    with reader:
        assert reader.info.crs is None
        assert reader.info.transform == Affine.identity()
        assert not reader.info.georeferenced
        rgb, valid = reader.read_window_rgb(5, 6, 3, 2)
    assert np.array_equal(rgb, expected_window(5, 6, 3, 2)[0]) and valid.all()


def test_open_custom_proj_string_crs(tmp_path: Path):
    path = make_geotiff(
        tmp_path / "laea.tif", crs=LAEA_PROJ, transform=Affine(2.0, 0, -1000.0, 0, -2.0, 500.0)
    )
    with open_raster(path) as reader:
        assert reader.info.crs.equals(pyproj.CRS.from_proj4(LAEA_PROJ))
        assert reader.info.transform == Affine(2.0, 0, -1000.0, 0, -2.0, 500.0)


def test_transform_without_crs_is_treated_as_pixels(tmp_path: Path):
    path = make_geotiff(tmp_path / "nocrs.tif", crs=None)
    with open_raster(path) as reader:
        assert reader.info.crs is None and reader.info.transform == Affine.identity()


def test_open_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(RasterError, match=r"'.*nope\.tif' does not exist; check the path"):
        open_raster(tmp_path / "nope.tif")
    bad = tmp_path / "notes.tif"
    bad.write_text("not a raster")
    with pytest.raises(RasterError, match=r"cannot open raster .*notes\.tif.*GeoTIFF, COG, VRT"):
        open_raster(bad)


def test_window_inside_has_exact_pixels(utm_rgb_tif: Path):
    with open_raster(utm_rgb_tif) as reader:
        rgb, valid = reader.read_window_rgb(7, 4, 10, 6)
    assert rgb.shape == (6, 10, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [8, 5, 103]
    assert rgb[5, 9].tolist() == [17, 10, 103]
    assert np.array_equal(rgb, expected_window(7, 4, 10, 6)[0]) and valid.all()


BORDER_WINDOWS = {
    "top-left corner": (-5, -4, 12, 10),
    "top edge": (10, -6, 8, 9),
    "top-right corner": (W - 3, -4, 12, 10),
    "right edge": (W - 2, 10, 8, 5),
    "bottom-right corner": (W - 3, H - 2, 12, 10),
    "bottom edge": (10, H - 3, 8, 9),
    "bottom-left corner": (-5, H - 2, 12, 10),
    "left edge": (-7, 10, 9, 5),
    "larger than raster": (-3, -2, W + 7, H + 5),
    "fully outside": (W + 2, 3, 5, 5),
}


@pytest.mark.filterwarnings(
    "ignore:Use `@` matmul:PendingDeprecationWarning"
)  # inside rasterio's boundless read
@pytest.mark.parametrize("window", BORDER_WINDOWS.values(), ids=BORDER_WINDOWS.keys())
def test_windows_across_borders_are_padded_exactly(utm_rgb_tif: Path, window: tuple[int, int, int, int]):
    with open_raster(utm_rgb_tif) as reader:
        rgb, valid = reader.read_window_rgb(*window)
    exp_rgb, exp_valid = expected_window(*window)
    assert np.array_equal(rgb, exp_rgb)
    assert np.array_equal(valid, exp_valid)
    # rasterio's own boundless read agrees at every border
    col_off, row_off, width, height = window
    with rasterio.open(utm_rgb_tif) as ds:
        boundless = ds.read(window=Window(col_off, row_off, width, height), boundless=True, fill_value=0)
    assert np.array_equal(rgb, boundless.transpose(1, 2, 0))


def test_window_size_must_be_positive(utm_rgb_tif: Path):
    with open_raster(utm_rgb_tif) as reader, pytest.raises(InputError, match="at least 1x1 pixels, got 0x5"):
        reader.read_window_rgb(0, 0, 0, 5)


def test_nodata_pixels_are_invalid_and_zero(tmp_path: Path):
    data = position_array(H, W, 3)
    data[:, 3, 4] = 255  # the nodata value in every band: no data
    data[0, 5, 6] = 255  # nodata value in band 1 only: the pixel still holds data
    path = make_geotiff(tmp_path / "nd.tif", data=data, nodata=255)
    with open_raster(path) as reader:
        assert reader.info.nodata == 255.0
        rgb, valid = reader.read_window_rgb(0, 0, 10, 10)
    assert not valid[3, 4] and rgb[3, 4].tolist() == [0, 0, 0]
    assert valid[5, 6] and rgb[5, 6].tolist() == [255, 6, 103]
    assert valid.sum() == 99


def test_float_nan_pixels_are_invalid(tmp_path: Path):
    data = position_array(10, 10, 3, "float32")
    data[:, 2, 3] = np.nan
    data[0, 4, 4] = np.nan  # one band only: the pixel holds data, the NaN band maps to 0
    path = make_geotiff(tmp_path / "f.tif", data=data)
    with open_raster(path) as reader:
        rgb, valid = reader.read_window_rgb(0, 0, 10, 10, stretch=Stretch(low=(0.0,), high=(255.0,)))
    assert not valid[2, 3] and rgb[2, 3].tolist() == [0, 0, 0]
    assert valid[4, 4] and rgb[4, 4].tolist() == [0, 255, 255]
    assert rgb[1, 2].tolist() == [103, 255, 255]
    assert valid.sum() == 99


def test_single_band_is_replicated_to_rgb(tmp_path: Path):
    path = make_geotiff(tmp_path / "gray.tif", count=1)
    with open_raster(path) as reader:
        rgb, _ = reader.read_window_rgb(2, 3, 4, 4)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
    assert rgb[0, 0, 0] == 3  # column 2 + 1


def test_band_selection_order_and_single_band(tmp_path: Path):
    path = make_geotiff(tmp_path / "five.tif", count=5)
    with open_raster(path) as reader:
        rgb, _ = reader.read_window_rgb(2, 3, 1, 1, bands=[5, 1, 2])
        assert rgb[0, 0].tolist() == [105, 3, 4]
        gray, _ = reader.read_window_rgb(2, 3, 1, 1, bands=[2])
        assert gray[0, 0].tolist() == [4, 4, 4]
        default, _ = reader.read_window_rgb(2, 3, 1, 1)
        assert default[0, 0].tolist() == [3, 4, 103]


def test_default_bands_follow_colour_labels(tmp_path: Path):
    from rasterio.enums import ColorInterp

    path = make_geotiff(tmp_path / "bgrn.tif", count=4)
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    with open_raster(path) as reader:
        assert reader.resolve_bands() == (3, 2, 1)
        rgb, _ = reader.read_window_rgb(2, 3, 1, 1)
    assert rgb[0, 0].tolist() == [103, 4, 3]


def test_band_selection_errors(tmp_path: Path):
    two = make_geotiff(tmp_path / "two.tif", count=2)
    with open_raster(two) as reader, pytest.raises(RasterError, match=r"has 2 bands; .*--bands 1"):
        reader.read_window_rgb(0, 0, 4, 4)
    with open_raster(tmp_path / "two.tif") as reader:
        with pytest.raises(
            RasterError, match=r"band index 3 is out of range .* 2 band\(s\); use indexes 1 to 2"
        ):
            reader.read_window_rgb(0, 0, 4, 4, bands=[1, 2, 3])
        with pytest.raises(RasterError, match=r"1 band index \(gray\) or 3 .*got \[1, 2\]"):
            reader.read_window_rgb(0, 0, 4, 4, bands=[1, 2])


@pytest.mark.parametrize(
    ("driver", "options"),
    [("COG", {}), ("VRT", {}), ("JP2OpenJPEG", {"QUALITY": "100", "REVERSIBLE": "YES"})],
)
def test_other_gdal_formats_read_exactly(utm_rgb_tif: Path, tmp_path: Path, driver: str, options: dict):
    suffix = {"COG": ".tif", "VRT": ".vrt", "JP2OpenJPEG": ".jp2"}[driver]
    out = tmp_path / f"copy{suffix}"
    rasterio.shutil.copy(utm_rgb_tif, out, driver=driver, **options)
    with open_raster(out) as reader:
        assert reader.info.crs == pyproj.CRS.from_epsg(32633)
        assert reader.info.transform.almost_equals(UTM33_TRANSFORM)
        rgb, valid = reader.read_window_rgb(W - 3, -2, 6, 5)
    exp_rgb, exp_valid = expected_window(W - 3, -2, 6, 5)
    assert np.array_equal(rgb, exp_rgb) and np.array_equal(valid, exp_valid)


def test_plain_jpeg_opens_in_pixel_frame(tmp_path: Path):
    path = make_geotiff(tmp_path / "frame.jpg", crs=None, transform=None, driver="JPEG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = open_raster(path)
    with reader:
        assert reader.info.crs is None and reader.info.count == 3
        rgb, valid = reader.read_window_rgb(-2, -2, 8, 8)
    assert rgb.shape == (8, 8, 3) and valid.sum() == 36


# ------------------------------------------------------------------------------------------------ stretch


def test_stretch_apply_maps_low_high_linearly_and_clips():
    stretch = Stretch(low=(100.0, 0.0, 10.0), high=(200.0, 1000.0, 20.0))
    array = np.array(
        [[[50, 100, 150, 200, 300]], [[0, 250, 500, 1000, 2000]], [[10, 12, 15, 20, 9]]], np.uint16
    )
    out = stretch.apply(array)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 0, 128, 255, 255]
    assert out[1, 0].tolist() == [0, 64, 128, 255, 255]
    assert out[2, 0].tolist() == [0, 51, 128, 255, 0]


def test_stretch_validation_and_identity():
    with pytest.raises(InputError, match=r"as many low as high values, got low=\(1.0,\) and high=\(\)"):
        Stretch(low=(1.0,), high=())
    with pytest.raises(InputError, match="stretch has 2 band values but the array has 3 bands"):
        Stretch(low=(0.0, 0.0), high=(1.0, 1.0)).apply(np.zeros((3, 2, 2)))
    u8 = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    assert np.array_equal(Stretch.identity().apply(u8), u8)


def test_uint8_raster_gets_identity_stretch_without_reading(
    utm_rgb_tif: Path, monkeypatch: pytest.MonkeyPatch
):
    with open_raster(utm_rgb_tif) as reader:
        monkeypatch.setattr(reader._dataset, "read", _fail_read)
        assert reader.compute_stretch().is_identity


def _fail_read(*args: object, **kwargs: object) -> None:
    raise AssertionError("no read expected")


def test_compute_stretch_uses_one_small_decimated_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4000, size=(3, 300, 450), dtype=np.uint16)
    path = make_geotiff(tmp_path / "u16.tif", data=data, overviews=(2, 4))
    with open_raster(path) as reader:
        calls: list[dict] = []
        original = reader._dataset.read

        def spy(*args: object, **kwargs: object) -> np.ndarray:
            calls.append(kwargs)
            return original(*args, **kwargs)

        monkeypatch.setattr(reader._dataset, "read", spy)
        stretch = reader.compute_stretch(max_side_px=64)
        assert len(calls) == 1
        assert calls[0]["out_shape"] == (3, 43, 64)
        assert "window" not in calls[0]
        assert len(stretch.low) == 3
        assert all(0 < lo < hi < 4000 for lo, hi in zip(stretch.low, stretch.high, strict=True))
        assert reader.compute_stretch(max_side_px=64) == stretch  # cached: no second read
        assert len(calls) == 1
        # windows read without a stretch compute the default one once, then read only their window
        reader.read_window_rgb(0, 0, 4, 4)
        reader.read_window_rgb(10, 10, 4, 4)
        assert [c.get("out_shape") for c in calls] == [(3, 43, 64), (3, 300, 450), None, None]
        assert [c.get("window") is not None for c in calls] == [False, False, True, True]


def test_compute_stretch_reads_from_overviews(tmp_path: Path):
    from rasterio.enums import Resampling

    rng = np.random.default_rng(1)
    data = rng.integers(0, 4000, size=(1, 400, 400), dtype=np.uint16)
    plain = make_geotiff(tmp_path / "plain.tif", data=data)
    with_ovr = make_geotiff(tmp_path / "ovr.tif", data=data)
    with rasterio.open(with_ovr, "r+") as ds:
        ds.build_overviews([2, 4, 8], Resampling.average)
    with open_raster(plain) as reader:
        from_base = reader.compute_stretch(max_side_px=50)
    with open_raster(with_ovr) as reader:
        from_overview = reader.compute_stretch(max_side_px=50)
    # nearest samples of the base keep the full 0..4000 spread; 8x8 averages cluster around 2000
    assert from_base.low[0] < 200 and from_base.high[0] > 3800
    assert 1500 < from_overview.low[0] < from_overview.high[0] < 2500


def test_uint16_stretch_values_and_window_mapping(tmp_path: Path):
    data = position_array(20, 30, 1, "uint16")  # row * 100 + col + 1
    path = make_geotiff(tmp_path / "u16.tif", data=data, nodata=0)
    with open_raster(path) as reader:
        stretch = reader.compute_stretch(bands=[1])
        lo, hi = np.percentile(data.astype(float), [2.0, 98.0])
        assert stretch.low == (lo, lo, lo) and stretch.high == (hi, hi, hi)
        rgb, valid = reader.read_window_rgb(0, 0, 30, 20)
        explicit, _ = reader.read_window_rgb(0, 0, 30, 20, stretch=stretch)
    assert np.array_equal(rgb, explicit)
    expected = np.clip(np.round((data[0].astype(float) - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(rgb[..., 0], expected) and valid.all()
    assert rgb[0, 0, 0] == 0 and rgb[19, 29, 0] == 255


def test_stretch_ignores_nodata(tmp_path: Path):
    data = np.full((1, 20, 20), 1000, dtype=np.uint16)
    data[0, :, 10:] = 3000
    data[0, :5] = 0  # nodata: a quarter of the raster
    path = make_geotiff(tmp_path / "nd16.tif", data=data, nodata=0)
    with open_raster(path) as reader:
        stretch = reader.compute_stretch()
    assert stretch.low == (1000.0,) * 3 and stretch.high == (3000.0,) * 3


def test_compute_stretch_argument_errors(tmp_path: Path):
    path = make_geotiff(tmp_path / "f.tif", count=1, dtype="float32")
    with open_raster(path) as reader:
        with pytest.raises(InputError, match=r"0 <= low < high <= 100, got \(98.0, 2.0\)"):
            reader.compute_stretch(percentiles=(98.0, 2.0))
        with pytest.raises(InputError, match="max_side_px must be >= 1, got 0"):
            reader.compute_stretch(max_side_px=0)


def test_real_rasters(shared_data: Path):
    with open_raster(shared_data / "geo" / "RGB.byte.tif") as reader:
        assert reader.info.crs == pyproj.CRS.from_epsg(32618) and reader.info.nodata == 0.0
        corner, corner_valid = reader.read_window_rgb(-10, -10, 40, 40)
        centre, centre_valid = reader.read_window_rgb(380, 340, 32, 32)
    assert not corner_valid.any() and not corner.any()  # outside, then the scene's nodata collar
    assert centre_valid.all() and centre.any()
    with open_raster(shared_data / "geo" / "sample_geotiff.tif") as reader:
        assert reader.info.dtype == "uint16" and reader.info.count == 1
        stretch = reader.compute_stretch()
        rgb, valid = reader.read_window_rgb(0, 0, 900, 900, stretch=stretch)
    assert valid.all() and len(set(stretch.low)) == 1
    # the 2-98 percentile stretch saturates about 2% of pixels at each end
    assert 0.005 < (rgb[..., 0] == 0).mean() < 0.05 and 0.005 < (rgb[..., 0] == 255).mean() < 0.05
