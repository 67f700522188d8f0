"""Options that do not fit the scene are refused before any work, naming the option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rossam_geo
from rossam_geo import io
from rossam_geo.errors import CRSError, OptionError, RasterError
from rossam_geo.segmentation import SegmentOptions
from rossam_geo.segmentation.run import check_scene
from tests.geo.fakes import make_geotiff, make_png


def test_bands_the_scene_lacks(tmp_path: Path):
    with io.open_raster(make_geotiff(tmp_path / "s.tif")) as reader:
        check_scene(reader, SegmentOptions(bands=(3, 2, 1)))
        with pytest.raises(
            OptionError, match=r"^bands 1,2,4 asks for band 4, but 's.tif' has 3 band\(s\)"
        ) as e:
            check_scene(reader, SegmentOptions(bands=(1, 2, 4)))
    assert e.value.option == "bands"


def test_a_two_band_scene_needs_a_choice(tmp_path: Path):
    with io.open_raster(make_geotiff(tmp_path / "s.tif", count=2)) as reader:
        with pytest.raises(RasterError, match=r"has 2 bands; choose the bands to use, e.g. --bands 1"):
            check_scene(reader, SegmentOptions())
        check_scene(reader, SegmentOptions(bands=(2,)))


def test_an_output_crs_for_a_scene_without_crs(tmp_path: Path):
    with io.open_raster(make_png(tmp_path / "f.png")) as reader:
        with pytest.raises(
            CRSError, match=r"^output_crs 'EPSG:4326' cannot be used: scene 'f.png' has no CRS"
        ):
            check_scene(reader, SegmentOptions(output_crs="EPSG:4326"))


def test_the_api_refuses_before_the_engine_runs(tmp_path: Path):
    class Counting:
        name, model_name, input_size_px, max_batch = "counting", "counting", None, 4
        calls = 0

        def predict(self, images: np.ndarray, boxes: np.ndarray) -> object:
            Counting.calls += 1
            raise AssertionError("the engine ran")

    scene = make_geotiff(tmp_path / "s.tif")
    with pytest.raises(OptionError, match="asks for band 9"):
        rossam_geo.segment(scene, np.array([[1.0, 1, 9, 9]]), engine=Counting(), bands=[9])
    assert Counting.calls == 0
