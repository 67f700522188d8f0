"""The resumable output of every run (:mod:`rossam_geo.segmentation.sink`) and the chunks a run hands it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pyproj
import pytest

from rossam_geo.errors import InputError, OptionError, OutputExistsError
from rossam_geo.io import write_features
from rossam_geo.segmentation.run import _Chunks
from rossam_geo.segmentation.sink import FINGERPRINT_KEY, LayerSink, OutputTarget
from tests.geo.test_io_write_chunks import _by_fid, _features


def _sink(path: Path, mode: str = "create", **kwargs: Any) -> LayerSink:
    target = OutputTarget(path, "objects", mode)  # type: ignore[arg-type]
    target.check()
    return LayerSink(target, **kwargs)


def test_due_by_feature_count_or_seconds(tmp_path: Path):
    sink = _sink(tmp_path / "out.gpkg", every_seconds=3600, every_features=3)
    assert [sink.due(n) for n in (0, 1, 2, 3, 7)] == [False, False, False, True, True]
    # every_seconds=0: the time since the last write is always long enough once one feature waits
    sink = _sink(tmp_path / "out.gpkg", every_seconds=0, every_features=1000)
    assert [sink.due(n) for n in (0, 1, 999)] == [False, True, True]


@pytest.mark.parametrize(
    ("every_seconds", "every_features", "shown"), [(-1.0, 10, "-1.0 and 10"), (30.0, 0, "30.0 and 0")]
)
def test_bad_chunk_settings_are_refused(tmp_path: Path, every_seconds, every_features, shown):
    with pytest.raises(InputError, match=rf"every_seconds >= 0 and every_features >= 1, got {shown}"):
        _sink(tmp_path / "out.gpkg", every_seconds=every_seconds, every_features=every_features)


def test_chunks_append_in_place_and_each_leaves_a_valid_file(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    sink = _sink(out, every_features=2)
    assert not out.exists() and sink.writes == 0
    expected: list[int] = []
    for chunk in ([0, 1], [2, 3], [4]):
        sink.write(_features(chunk))
        expected += chunk
        back = gpd.read_file(out, layer="objects")
        assert back["prompt_id"].tolist() == expected
        assert pyproj.CRS.from_user_input(back.crs) == pyproj.CRS.from_epsg(32633)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]
    assert sink.writes == 3 and sink.features_written == 5
    assert set(gpd.read_file(out, layer="objects").geometry.geom_type) == {"MultiPolygon"}


def test_overwrite_replaces_the_layer_once_then_appends_and_keeps_other_layers(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([9]), out, layer="old")
    write_features(_features([8]), out, layer="objects", mode="append")
    sink = _sink(out, "overwrite")
    sink.write(_features([0]))
    sink.write(_features([1]))
    assert sorted(str(n) for n in pyogrio.list_layers(out)[:, 0]) == ["objects", "old"]
    assert _by_fid(out) == {1: 0, 2: 1} and _by_fid(out, "old") == {1: 9}


def test_a_chunk_deletes_the_features_it_replaces_after_writing(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    write_features(_features([0, 1], status="failed"), out, layer="objects")
    sink = _sink(out, "resume")
    sink.write(_features([1]), replaces=[2])  # prompt 1 failed before: its new feature replaces fid 2
    sink.drop_stale([1])
    sink.write(_features([2]))
    assert _by_fid(out) == {3: 1, 4: 2}


def test_finish_makes_the_layer_when_nothing_was_written(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    sink = _sink(out)
    sink.finish(_features([0]).iloc[:0])
    assert pyogrio.read_info(out, layer="objects")["features"] == 0
    write_features(_features([3, 4]), out, layer="objects", mode="append")
    _sink(out, "overwrite").finish(_features([0]).iloc[:0])
    assert pyogrio.read_info(out, layer="objects")["features"] == 0


def test_fingerprints_are_kept_per_group_and_a_resume_with_other_prompts_is_refused(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    sink = _sink(out)
    sink.remember({"a.tif": "sha256:aa"})
    sink.write(_features([0]))
    sink = _sink(out, "append")
    sink.remember({"b.tif": "sha256:bb"})
    sink.write(_features([1]))
    resumed = _sink(out, "resume")
    assert resumed.fingerprints() == {"a.tif": "sha256:aa", "b.tif": "sha256:bb"}
    resumed.check_prompts("a.tif", "sha256:aa", "prompts")
    resumed.check_prompts("c.tif", "sha256:cc", "prompts")  # nothing recorded for it: nothing to compare
    with pytest.raises(
        InputError, match=r"'b.tif' was made from other prompts; resume with the same prompts"
    ):
        resumed.check_prompts("b.tif", "sha256:other", "prompts")
    assert FINGERPRINT_KEY in pyogrio.read_info(out, layer="objects")["layer_metadata"]


def test_output_target_checks(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    with pytest.raises(InputError, match=r"mode must be 'create', 'overwrite', 'append' or 'resume'"):
        OutputTarget(out, "objects", "keep").check()  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"out_layer must be a non-empty name, got ''"):
        OutputTarget(out, "", "create").check()
    with pytest.raises(InputError, match=r"'gpkg_contents' starts with a name GeoPackage reserves"):
        OutputTarget(out, "gpkg_contents", "append").check()
    with pytest.raises(InputError, match=r"must be a GeoPackage with the .gpkg extension"):
        OutputTarget(tmp_path / "out.shp", "objects").check()
    write_features(_features([0]), out, layer="boxes")
    with pytest.raises(OutputExistsError, match=r"exists; .* or --resume to finish an interrupted run"):
        OutputTarget(out, "objects", "create").check()
    for mode in ("overwrite", "append", "resume"):
        with pytest.raises(InputError, match=r"layer 'boxes' of .* is the layer the prompts are read from"):
            OutputTarget(out, "boxes", mode).check(out, "boxes")  # type: ignore[arg-type]
        OutputTarget(out, "objects", mode).check(out, "boxes")  # type: ignore[arg-type]


class _RecordingOutput:
    """Records the chunks it is given; due once ``every`` features wait."""

    def __init__(self, every: int = 2) -> None:
        self.every = every
        self.chunks: list[list[Any]] = []

    def due(self, waiting: int) -> bool:
        return waiting >= self.every

    def write(self, features: Any) -> None:
        self.chunks.append(list(features["prompt_id"]))


class _ListFrame:
    """Builds a "frame" that holds its outcomes as prompt ids."""

    def build(self, outcomes: list[Any], polygons: list[Any]) -> dict[str, list[Any]]:
        assert len(outcomes) == len(polygons)
        return {"prompt_id": list(outcomes)}


def test_chunks_are_written_when_due_and_the_rest_at_the_end():
    output = _RecordingOutput(every=2)
    chunks = _Chunks(_ListFrame(), output)  # type: ignore[arg-type]
    with chunks.collecting():
        for prompt_id in range(5):
            chunks.add(prompt_id, None)  # type: ignore[arg-type]
    assert output.chunks == [[0, 1], [2, 3], [4]]
    assert [c["prompt_id"] for c in chunks.frames] == [[0, 1], [2, 3], [4]]  # each feature built once


def test_ctrl_c_writes_the_finished_features_and_other_errors_write_nothing():
    output = _RecordingOutput(every=10)
    chunks = _Chunks(_ListFrame(), output)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt), chunks.collecting():
        chunks.add(0, None)  # type: ignore[arg-type]
        chunks.add(1, None)  # type: ignore[arg-type]
        raise KeyboardInterrupt
    assert output.chunks == [[0, 1]]

    output = _RecordingOutput(every=10)
    chunks = _Chunks(_ListFrame(), output)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError), chunks.collecting():
        chunks.add(0, None)  # type: ignore[arg-type]
        raise RuntimeError("engine crashed")
    assert output.chunks == []


def test_an_output_folder_where_nothing_can_be_created_is_refused(tmp_path: Path):
    a_file = tmp_path / "a_file"
    a_file.write_text("a file where a folder is expected\n")
    with pytest.raises(
        OptionError, match=r"^output '.*a_file/out.gpkg': cannot write into .*a_file': .* is a file"
    ) as e:
        OutputTarget(a_file / "out.gpkg", "objects").check()
    assert e.value.option == "output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
