"""Reading vector layers: layer names, whole layers indexed by feature id, attribute tables."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyproj
import pytest
import shapely

from rossam_geo.errors import InputError
from rossam_geo.io import layer_names, read_layer_attributes, read_layer_table, read_vector_layer

UTM33 = "EPSG:32633"


def _boxes(labels: list[str], crs: str | None = UTM33) -> gpd.GeoDataFrame:
    """One 2 m box per label, side by side in UTM 33N (x = 500000 + 10 * position)."""
    geoms = [shapely.box(500000 + 10 * i, 5000000, 500002 + 10 * i, 5000002) for i in range(len(labels))]
    return gpd.GeoDataFrame({"label": labels, "frame": list(range(len(labels)))}, geometry=geoms, crs=crs)


@pytest.fixture
def two_layer_gpkg(tmp_path: Path) -> Path:
    """A GeoPackage with layer ``planes`` (3 features) written before layer ``ships`` (1 feature)."""
    path = tmp_path / "labels.gpkg"
    _boxes(["a", "b", "c"]).to_file(path, layer="planes", driver="GPKG")
    _boxes(["s"]).to_file(path, layer="ships", driver="GPKG")
    return path


def test_layer_names_in_file_order(two_layer_gpkg: Path) -> None:
    assert layer_names(two_layer_gpkg) == ["planes", "ships"]


def test_read_vector_layer_is_indexed_by_feature_id(two_layer_gpkg: Path) -> None:
    frame = read_vector_layer(two_layer_gpkg, layer="planes")

    assert list(frame.index) == [1, 2, 3]
    assert list(frame["label"]) == ["a", "b", "c"]
    assert pyproj.CRS.from_user_input(frame.crs).equals(pyproj.CRS.from_epsg(32633))
    assert frame.geometry.iloc[1].bounds == (500010.0, 5000000.0, 500012.0, 5000002.0)


def test_read_vector_layer_reads_the_layer_asked_for(two_layer_gpkg: Path) -> None:
    frame = read_vector_layer(two_layer_gpkg, layer="ships")

    assert list(frame["label"]) == ["s"]


def test_read_vector_layer_without_crs_has_none(tmp_path: Path) -> None:
    path = tmp_path / "pixels.gpkg"
    _boxes(["a"], crs=None).to_file(path, layer="boxes", driver="GPKG")

    assert read_vector_layer(path).crs is None


def test_read_vector_layer_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"file not found: .*absent\.gpkg; check the path"):
        read_vector_layer(tmp_path / "absent.gpkg")


def test_read_vector_layer_of_a_non_vector_file_says_what_to_give(tmp_path: Path) -> None:
    path = tmp_path / "notes.gpkg"
    path.write_text("not a GeoPackage")

    with pytest.raises(InputError, match=r"cannot read .*notes\.gpkg as a vector file .*give a GeoPackage"):
        read_vector_layer(path)


def test_read_layer_attributes_keeps_the_columns_the_layer_has(two_layer_gpkg: Path) -> None:
    table = read_layer_attributes(two_layer_gpkg, "planes", ["frame", "track_id"])

    assert table is not None
    assert list(table.columns) == ["frame"]
    assert list(table.index) == [1, 2, 3]
    assert list(table["frame"]) == [0, 1, 2]
    assert "geometry" not in table.columns


@pytest.mark.parametrize("where", ["file", "layer"])
def test_read_layer_attributes_is_none_without_file_or_layer(two_layer_gpkg: Path, where: str) -> None:
    path = two_layer_gpkg.with_name("absent.gpkg") if where == "file" else two_layer_gpkg

    assert read_layer_attributes(path, "cars", ["frame"]) is None


def test_read_layer_attributes_of_a_broken_file_names_layer_and_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.gpkg"
    path.write_text("not a GeoPackage")

    with pytest.raises(InputError, match=r"cannot read layer 'planes' of .*broken\.gpkg'"):
        read_layer_attributes(path, "planes", ["frame"])


def test_read_layer_table_refuses_a_layer_without_the_fields(two_layer_gpkg: Path) -> None:
    with pytest.raises(InputError, match=r"has no field 'track_id', so it was not written by rossam-geo"):
        read_layer_table(two_layer_gpkg, "planes", ["frame", "track_id"])
