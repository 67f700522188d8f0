"""GeoPackage output in place: deleting features by id, layer metadata, recovering a killed write, and reading
a layer's attributes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

from rossam_geo.errors import InputError
from rossam_geo.io import (
    delete_features,
    read_layer_metadata,
    read_layer_table,
    recover_geopackage,
    write_features,
)

UTM33 = "EPSG:32633"
REPO = Path(__file__).resolve().parents[2]


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


# ------------------------------------------------------------------------- delete_features, metadata


def test_delete_features_removes_them_from_the_layer_and_its_spatial_index(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1, 2]), out, layer="objects")
    assert _by_fid(out) == {1: 0, 2: 1, 3: 2}
    write_features(_features([1, 3]), out, layer="objects", mode="append")
    delete_features(out, "objects", [2])
    assert _by_fid(out) == {1: 0, 3: 2, 4: 1, 5: 3}
    assert pyogrio.read_info(out, layer="objects")["features"] == 4
    # the spatial index follows the deletion: prompt 1's box is found once (the new feature), prompt 0's too
    assert _prompts_in_bbox(out, 500001) == [1]
    assert _prompts_in_bbox(out, 500000) == [0]
    assert _leftovers(tmp_path) == []


def test_deleting_ids_not_in_the_layer_or_none_changes_nothing(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1]), out, layer="objects")
    delete_features(out, "objects", [99])
    delete_features(out, "objects", [])
    assert _by_fid(out) == {1: 0, 2: 1}


def test_deleting_touches_only_the_named_layer(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1]), out, layer="other")
    write_features(_features([5, 6]), out, layer="objects", mode="append")  # new layer
    delete_features(out, "objects", [1])
    assert _by_fid(out, "other") == {1: 0, 2: 1}
    assert _by_fid(out, "objects") == {2: 6}


def test_layer_metadata_is_set_merged_on_append_and_replaced_with_the_layer(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0]), out, layer="objects", metadata={"a": "1"})
    write_features(_features([1]), out, layer="objects", mode="append", metadata={"b": "2"})
    write_features(_features([2]), out, layer="objects", mode="append")
    assert read_layer_metadata(out, "objects") == {"a": "1", "b": "2"}
    write_features(_features([3]), out, layer="objects", mode="overwrite", metadata={"c": "3"})
    assert read_layer_metadata(out, "objects") == {"c": "3"}
    assert read_layer_metadata(out, "missing") == {} and read_layer_metadata(tmp_path / "no.gpkg", "x") == {}


#: appends a large chunk to ``objects`` over and over; the test kills it while a transaction is open.
APPENDER = """
import sys
import geopandas as gpd, numpy as np, shapely
from rossam_geo.io import write_features
n = 100_000
frame = gpd.GeoDataFrame(
    {"prompt_id": np.arange(n), "status": ["ok"] * n, "score": [0.5] * n},
    geometry=[shapely.box(500000 + i, 5000000, 500001 + i, 5000002) for i in range(n)],
    crs="EPSG:32633",
)
print("ready", flush=True)
while True:
    write_features(frame, sys.argv[1], layer="objects", mode="append")
"""


def test_a_write_killed_inside_its_transaction_is_rolled_back_and_leaves_nothing(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1]), out, layer="objects")
    write_features(_features([7]), out, layer="other", mode="append")
    journal = tmp_path / "out.gpkg-journal"
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert journal.exists(), "the append never opened a transaction"
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert journal.exists()  # the killed transaction's journal: readers cannot open the file until recovery
    recover_geopackage(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]
    assert _by_fid(out, "other") == {1: 7}
    assert _by_fid(out)[1] == 0 and pyogrio.read_info(out, layer="objects")["features"] in (2, 100_002)


def test_recover_removes_the_temporary_files_of_earlier_writes(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1]), out, layer="objects")
    (tmp_path / ".out.gpkg.abc123.tmp").mkdir()  # a copy of the whole file, as earlier versions made
    (tmp_path / ".out.gpkg.abc123.tmp" / "out.gpkg").write_bytes(out.read_bytes())
    (tmp_path / ".out.gpkg.def456.tmp.gpkg").write_bytes(b"a new file cut short")
    (tmp_path / ".other.gpkg.x.tmp").write_bytes(b"not ours")
    recover_geopackage(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.gpkg.x.tmp", "out.gpkg"]
    assert _by_fid(out) == {1: 0, 2: 1}
    with pytest.raises(InputError, match=r"is not a readable GeoPackage"):
        (tmp_path / "bad.gpkg").write_text("not a GeoPackage, just text " * 40)
        recover_geopackage(tmp_path / "bad.gpkg")


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
