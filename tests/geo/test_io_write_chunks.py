"""Chunked GeoPackage output: replacing features by id, the chunk writer, and reading a layer's attributes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pyproj
import pytest
import shapely

from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.io import GeoPackageWriter, read_layer_table, write_features

UTM33 = "EPSG:32633"


def _features(prompt_ids: list[int], status: str = "ok") -> gpd.GeoDataFrame:
    """One 1 m x 2 m box per prompt id, side by side in UTM 33N (x = 500000 + prompt id)."""
    geoms = [shapely.box(500000 + i, 5000000, 500001 + i, 5000002) for i in prompt_ids]
    return gpd.GeoDataFrame(
        {"prompt_id": prompt_ids, "status": [status] * len(prompt_ids), "score": [0.5] * len(prompt_ids)},
        geometry=geoms,
        crs=UTM33,
    )


def _by_fid(path: Path, layer: str = "objects") -> dict[int, int]:
    """Feature id -> prompt id of every feature of the layer."""
    table = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, fid_as_index=True)
    return {int(fid): int(p) for fid, p in zip(table.index, table["prompt_id"], strict=True)}


def _prompts_in_bbox(path: Path, x: float) -> list[int]:
    """Prompt ids of the features that the layer's spatial index finds around easting ``x``."""
    hits = pyogrio.read_dataframe(path, layer="objects", bbox=(x + 0.25, 5000000.5, x + 0.75, 5000001.5))
    return sorted(int(p) for p in hits["prompt_id"])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------ write_features(drop_fids=)


def test_append_with_drop_fids_replaces_those_features_in_one_write(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1, 2]), out, layer="objects")
    assert _by_fid(out) == {1: 0, 2: 1, 3: 2}

    write_features(_features([1, 3]), out, layer="objects", mode="append", drop_fids=[2])
    assert _by_fid(out) == {1: 0, 3: 2, 4: 1, 5: 3}
    assert pyogrio.read_info(out, layer="objects")["features"] == 4
    # the spatial index follows the deletion: prompt 1's box is found once (the new feature), prompt 0's too
    assert _prompts_in_bbox(out, 500001) == [1]
    assert _prompts_in_bbox(out, 500000) == [0]
    back = gpd.read_file(out, layer="objects")
    assert pyproj.CRS.from_user_input(back.crs) == pyproj.CRS.from_epsg(32633)
    assert _leftovers(tmp_path) == []


def test_drop_fids_not_in_the_layer_are_ignored(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1]), out, layer="objects")
    write_features(_features([2]), out, layer="objects", mode="append", drop_fids=[99, 0])
    assert _by_fid(out) == {1: 0, 2: 1, 3: 2}


def test_drop_fids_touch_only_the_written_layer(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1]), out, layer="other")
    write_features(_features([5, 6]), out, layer="objects", mode="append", drop_fids=[1])  # new layer
    assert _by_fid(out, "other") == {1: 0, 2: 1}
    assert _by_fid(out, "objects") == {1: 5, 2: 6}

    write_features(_features([7]), out, layer="objects", mode="append", drop_fids=[1])
    assert _by_fid(out, "objects") == {2: 6, 3: 7}
    assert _by_fid(out, "other") == {1: 0, 2: 1}


@pytest.mark.parametrize("mode", ["create", "overwrite"])
def test_drop_fids_need_append_mode(tmp_path: Path, mode: str):
    out = tmp_path / "out.gpkg"
    if mode == "overwrite":
        write_features(_features([0, 1]), out, layer="objects")
    before = out.read_bytes() if out.exists() else None
    with pytest.raises(InputError, match=rf"replaced only when appending, not with write mode '{mode}'"):
        write_features(_features([2]), out, layer="objects", mode=mode, drop_fids=[1])  # type: ignore[arg-type]
    assert (out.read_bytes() if out.exists() else None) == before
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------- GeoPackageWriter


def test_due_by_feature_count(tmp_path: Path):
    writer = GeoPackageWriter(tmp_path / "out.gpkg", layer="objects", every_seconds=3600, every_features=3)
    assert [writer.due(n) for n in (0, 1, 2, 3, 7)] == [False, False, False, True, True]


def test_due_by_seconds(tmp_path: Path):
    # every_seconds=0: the time since the last write is always long enough once one feature waits.
    writer = GeoPackageWriter(tmp_path / "out.gpkg", layer="objects", every_seconds=0, every_features=1000)
    assert [writer.due(n) for n in (0, 1, 999)] == [False, True, True]
    writer.write(_features([0]))
    assert writer.due(1) and not writer.due(0)


@pytest.mark.parametrize(
    ("every_seconds", "every_features", "shown"), [(-1.0, 10, "-1.0 and 10"), (30.0, 0, "30.0 and 0")]
)
def test_writer_refuses_bad_chunk_settings(tmp_path: Path, every_seconds, every_features, shown):
    with pytest.raises(InputError, match=rf"every_seconds >= 0 and every_features >= 1, got {shown}"):
        GeoPackageWriter(
            tmp_path / "out.gpkg", layer="objects", every_seconds=every_seconds, every_features=every_features
        )


def test_chunks_append_and_each_leaves_a_valid_file(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    writer = GeoPackageWriter(out, layer="objects", mode="create", every_features=2)
    assert not out.exists() and writer.writes == 0

    expected: list[int] = []
    for chunk in ([0, 1], [2, 3], [4]):
        writer.write(_features(chunk))
        expected += chunk
        # after every chunk the file is a complete GeoPackage holding every chunk so far
        back = gpd.read_file(out, layer="objects")
        assert back["prompt_id"].tolist() == expected
        assert pyogrio.read_info(out, layer="objects")["features"] == len(expected)
        assert pyproj.CRS.from_user_input(back.crs) == pyproj.CRS.from_epsg(32633)
        assert _leftovers(tmp_path) == []
    assert writer.writes == 3 and writer.features_written == 5
    assert set(gpd.read_file(out, layer="objects").geometry.geom_type) == {"MultiPolygon"}


def test_create_writer_refuses_an_existing_file_at_the_first_chunk(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([9]), out, layer="objects")
    before = out.read_bytes()
    writer = GeoPackageWriter(out, layer="objects", mode="create")
    with pytest.raises(OutputExistsError, match=r"out.gpkg' exists; use --overwrite"):
        writer.write(_features([0]))
    assert out.read_bytes() == before and writer.writes == 0


def test_overwrite_writer_replaces_the_file_once_then_appends(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([9]), out, layer="old")
    writer = GeoPackageWriter(out, layer="objects", mode="overwrite")
    writer.write(_features([0]))
    assert [str(n) for n in pyogrio.list_layers(out)[:, 0]] == ["objects"]
    writer.write(_features([1]))
    assert _by_fid(out) == {1: 0, 2: 1}


def test_append_writer_keeps_the_layer_and_drops_replaced_features(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1], status="failed"), out, layer="objects")
    writer = GeoPackageWriter(out, layer="objects", mode="append")
    writer.write(_features([1]), drop_fids=[2])  # prompt 1 failed before: its new feature replaces fid 2
    writer.write(_features([2]))
    assert _by_fid(out) == {1: 0, 3: 1, 4: 2}
    assert gpd.read_file(out, layer="objects")["status"].tolist() == ["failed", "ok", "ok"]


def test_first_chunk_of_a_create_writer_cannot_drop_features(tmp_path: Path):
    writer = GeoPackageWriter(tmp_path / "out.gpkg", layer="objects", mode="create")
    with pytest.raises(InputError, match=r"not with write mode 'create'"):
        writer.write(_features([0]), drop_fids=[1])
    assert writer.writes == 0 and not (tmp_path / "out.gpkg").exists()


# --------------------------------------------------------------------------------------- read_layer_table


def test_read_layer_table_missing_file_or_layer_is_none(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    assert read_layer_table(out, "objects", ["prompt_id"]) is None
    write_features(_features([0]), out, layer="other")
    assert read_layer_table(out, "objects", ["prompt_id"]) is None


def test_read_layer_table_gives_the_columns_by_fid(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([4, 5]), out, layer="objects")
    write_features(_features([6], status="failed"), out, layer="objects", mode="append")
    table = read_layer_table(out, "objects", ["status", "prompt_id"])
    assert sorted(table.columns) == ["prompt_id", "status"]  # the columns asked for, no score or geometry
    assert table.index.tolist() == [1, 2, 3]
    assert table["prompt_id"].tolist() == [4, 5, 6]
    assert table["status"].tolist() == ["ok", "ok", "failed"]


def test_read_layer_table_refuses_a_layer_without_a_column(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0]), out, layer="objects")
    with pytest.raises(
        InputError, match=r"has no field 'engine', so it was not written by rossam-geo segment"
    ):
        read_layer_table(out, "objects", ["prompt_id", "engine"])


def test_read_layer_table_refuses_an_unreadable_file(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    out.write_text("not a GeoPackage")
    with pytest.raises(InputError, match=r"cannot read layer 'objects' of .*out.gpkg'"):
        read_layer_table(out, "objects", ["prompt_id"])
