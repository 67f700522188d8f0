"""Features of plain image frames (no CRS) are written without the writer's missing-CRS warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from rossam_geo.api import Segmenter
from rossam_geo.errors import OutputError
from rossam_geo.io import PIXEL_FRAME_DESCRIPTION, write_features
from tests.geo.fakes import make_png


def _pixel_features(n: int, start: int = 0) -> gpd.GeoDataFrame:
    geoms = [shapely.box(2 * i, 1, 2 * i + 2, 4) for i in range(start, start + n)]
    return gpd.GeoDataFrame({"prompt_id": list(range(start, start + n))}, geometry=geoms, crs=None)


def test_pixel_frame_write_and_append_emit_no_warning(tmp_path: Path):
    out = tmp_path / "frame.gpkg"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_features(_pixel_features(2), out, layer="objects")
        write_features(_pixel_features(1, start=2), out, layer="objects", mode="append")
    assert [str(w.message) for w in caught] == []

    back = gpd.read_file(out, layer="objects")
    assert back.crs is None
    assert back["prompt_id"].tolist() == [0, 1, 2]
    assert back.geometry.iloc[2].equals(shapely.MultiPolygon([shapely.box(4, 1, 6, 4)]))
    description = pyogrio.read_info(out, layer="objects")["layer_metadata"]["DESCRIPTION"]
    assert description == PIXEL_FRAME_DESCRIPTION and "y down" in description


def test_georeferenced_layers_get_no_pixel_description(tmp_path: Path):
    out = tmp_path / "utm.gpkg"
    write_features(_pixel_features(1).set_crs("EPSG:32633"), out, layer="objects")
    metadata = pyogrio.read_info(out, layer="objects")["layer_metadata"] or {}
    assert "DESCRIPTION" not in metadata


def test_other_write_warnings_are_not_hidden(tmp_path: Path, monkeypatch):
    def warn_and_fail(*args: object, **kwargs: object) -> None:
        warnings.warn("something else", UserWarning, stacklevel=1)
        raise RuntimeError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", warn_and_fail)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(OutputError, match="disk full"):
            write_features(_pixel_features(1), tmp_path / "x.gpkg", layer="objects")
    assert [str(w.message) for w in caught] == ["something else"]


def test_segmenting_a_png_frame_to_a_geopackage_emits_no_warning(tmp_path: Path):
    frame = make_png(tmp_path / "frame.png", width=40, height=30)
    boxes_px = np.array([[4.0, 3.0, 12.0, 9.0], [20.0, 10.0, 30.0, 25.0]])
    out = tmp_path / "frame.gpkg"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Segmenter("box").segment_to_file(frame, boxes_px, out)
    assert [str(w.message) for w in caught] == []
    back = gpd.read_file(out, layer="objects")
    assert back.crs is None and back["area_unit"].tolist() == ["px", "px"]
    # pixel coordinates, y down: the first box covers columns 4..12 and rows 3..9
    assert back.geometry.iloc[0].equals(shapely.MultiPolygon([shapely.box(4, 3, 12, 9)]))
