"""GeoPackage writing: create, overwrite (the layer), append, refusals, no temporary files left."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pyproj
import pytest
import shapely

from rossam_geo.errors import CRSError, InputError, OutputError, OutputExistsError
from rossam_geo.io import write_features


def features(n: int, crs: str | None = "EPSG:32633", start: int = 0) -> gpd.GeoDataFrame:
    geoms = [shapely.box(500000 + i, 5000000, 500001 + i, 5000002) for i in range(start, start + n)]
    return gpd.GeoDataFrame(
        {"prompt_id": list(range(start, start + n)), "score": [0.5] * n}, geometry=geoms, crs=crs
    )


def test_create_writes_layer_and_leaves_no_temp_file(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(features(3), out, layer="masks", mode="create")
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]
    back = gpd.read_file(out, layer="masks")
    assert back["prompt_id"].tolist() == [0, 1, 2]
    assert pyproj.CRS.from_user_input(back.crs) == pyproj.CRS.from_epsg(32633)
    assert back.geometry.iloc[1].equals(shapely.box(500001, 5000000, 500002, 5000002))


def test_create_refuses_existing_file(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(features(1), out, layer="masks")
    before = out.read_bytes()
    with pytest.raises(
        OutputExistsError, match=r"out.gpkg' exists; use --overwrite to replace its layer 'masks' or --append"
    ):
        write_features(features(2), out, layer="masks", mode="create")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_overwrite_replaces_only_the_layer(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(features(3), out, layer="old")
    write_features(features(2, start=5), out, layer="masks", mode="append")
    old = gpd.read_file(out, layer="old")
    write_features(features(1, start=10), out, layer="masks", mode="overwrite")
    assert sorted(str(n) for n in pyogrio.list_layers(out)[:, 0]) == ["masks", "old"]
    assert gpd.read_file(out, layer="masks")["prompt_id"].tolist() == [10]
    assert gpd.read_file(out, layer="old").equals(old)
    write_features(features(1, start=20), tmp_path / "new.gpkg", layer="masks", mode="overwrite")
    assert gpd.read_file(tmp_path / "new.gpkg", layer="masks")["prompt_id"].tolist() == [20]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.gpkg", "out.gpkg"]


def test_append_adds_rows_and_keeps_other_layers(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(features(2), out, layer="masks", mode="append")  # no file yet: created
    write_features(features(1), out, layer="boxes", mode="append")  # new layer in the existing file
    write_features(features(3, start=2), out, layer="masks", mode="append")
    assert gpd.read_file(out, layer="masks")["prompt_id"].tolist() == [0, 1, 2, 3, 4]
    assert len(gpd.read_file(out, layer="boxes")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_append_with_another_crs_is_refused(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(features(1), out, layer="masks")
    with pytest.raises(
        CRSError, match=r"in WGS 84 to layer 'masks' .* in WGS 84 / UTM zone 33N; write them in"
    ):
        write_features(features(1, crs="EPSG:4326"), out, layer="masks", mode="append")
    assert len(gpd.read_file(out, layer="masks")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_empty_and_missing_geometries_and_empty_layers(tmp_path: Path):
    gdf = gpd.GeoDataFrame(
        {"prompt_id": [1, 2, 3]},
        geometry=[
            shapely.Polygon(),
            None,
            shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
        ],
        crs="EPSG:32633",
    )
    out = tmp_path / "out.gpkg"
    write_features(gdf, out, layer="masks")
    write_features(gdf.iloc[:0], tmp_path / "empty.gpkg", layer="masks")
    back = gpd.read_file(out, layer="masks")
    assert back.geometry.iloc[0].is_empty and back.geometry.iloc[1] is None
    assert back.geometry.iloc[2].area == 2.0
    assert pyogrio.read_info(out, layer="masks")["geometry_type"] == "MultiPolygon"
    assert len(gpd.read_file(tmp_path / "empty.gpkg", layer="masks")) == 0


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "out.gpkg"
    write_features(features(2), out, layer="masks")
    before = out.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", broken)
    with pytest.raises(OutputError, match=r"cannot write layer 'masks' to .*out.gpkg' \(disk full\)"):
        write_features(features(1), out, layer="masks", mode="append")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_argument_errors(tmp_path: Path):
    with pytest.raises(InputError, match=r"out.shp' must be a GeoPackage with the .gpkg extension"):
        write_features(features(1), tmp_path / "out.shp", layer="masks")
    with pytest.raises(
        InputError, match=r"write mode must be 'create', 'overwrite' or 'append', got 'replace'"
    ):
        write_features(features(1), tmp_path / "out.gpkg", layer="masks", mode="replace")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"output folder .*missing' does not exist; create it first"):
        write_features(features(1), tmp_path / "missing" / "out.gpkg", layer="masks")
