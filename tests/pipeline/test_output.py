"""Resume planning and chunked output of a scene run (:mod:`rossam_geo.pipeline.output`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from rossam_geo.api import RESUME_FIELDS as API_RESUME_FIELDS
from rossam_geo.api import check_resumable as api_check_resumable
from rossam_geo.engines.box import BoxEngine
from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.io import PromptSet, write_features
from rossam_geo.pipeline.output import (
    RESUME_FIELDS,
    ChunkedFeatures,
    OutputSink,
    check_resumable,
    check_write_mode,
    open_output,
    prompt_key,
    resume_plan,
    subset_prompts,
)


def _table(rows: list[tuple[int, Any, str, str]], engine: str = "box", model: str = "box") -> pd.DataFrame:
    """A layer's resume fields: rows of (fid, prompt_id, source, status)."""
    return pd.DataFrame(
        {
            "prompt_id": [r[1] for r in rows],
            "source": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "engine": [engine] * len(rows),
            "model": [model] * len(rows),
        },
        index=pd.Index([r[0] for r in rows], name="fid"),
    )


def test_resume_names_stay_importable_from_the_api():
    assert API_RESUME_FIELDS == RESUME_FIELDS == ("prompt_id", "source", "status", "engine", "model")
    assert api_check_resumable is check_resumable


@pytest.mark.parametrize(
    ("value", "key"), [(7, "7"), (7.0, "7"), ("7", "7"), (np.int64(7), "7"), (7.5, "7.5")]
)
def test_prompt_key_is_the_same_for_ids_read_back(value: Any, key: str):
    assert prompt_key(value) == key


def test_resume_plan_skips_finished_prompts_and_lists_failed_ones_of_this_scene():
    table = _table(
        [
            (1, 1.0, "scene.tif", "ok"),
            (2, 2.0, "scene.tif", "failed"),
            (3, 3.0, "scene.tif", "skipped"),
            (4, 4.0, "other.tif", "ok"),  # another scene: prompt 4 of scene.tif is not done
            (5, 5.0, "other.tif", "failed"),  # another scene's failure is never replaced
        ]
    )
    todo, replaced = resume_plan(table, "scene.tif", [1, 2, 3, 4, 5, 6])
    assert todo == [1, 3, 4, 5]  # indexes of prompts 2, 4, 5, 6
    assert replaced == {"2": [2]}


def test_resume_plan_keeps_a_prompt_with_a_finished_feature_even_if_it_also_failed():
    table = _table([(1, 2, "scene.tif", "failed"), (2, 2, "scene.tif", "ok")])
    todo, replaced = resume_plan(table, "scene.tif", [1, 2])
    assert todo == [0] and replaced == {}


def test_check_resumable_compares_engine_and_model():
    table = _table([(1, 1, "scene.tif", "ok")], engine="box", model="box")
    check_resumable(table, "out.gpkg", "objects", "box", "box")
    check_resumable(table, "out.gpkg", "objects", "box")  # engines only
    with pytest.raises(
        InputError, match=r"made with engine box \(model 'box'\), this run uses engine grabcut;"
    ):
        check_resumable(table, "out.gpkg", "objects", "grabcut")
    with pytest.raises(
        InputError, match=r"this run uses engine box \(model 'other.pt'\); resume with the same"
    ):
        check_resumable(table, "out.gpkg", "objects", "box", "other.pt")


def test_check_write_mode(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    assert check_write_mode(str(out), "create") == out
    with pytest.raises(
        InputError, match=r"mode must be 'create', 'overwrite', 'append' or 'resume', got 'keep'"
    ):
        check_write_mode(out, "keep")
    out.write_bytes(b"")
    with pytest.raises(OutputExistsError, match=r"exists; .* or --resume to finish an interrupted run"):
        check_write_mode(out, "create")
    for mode in ("overwrite", "append", "resume"):
        assert check_write_mode(out, mode) == out


def test_subset_prompts_keeps_the_chosen_prompts_in_order():
    prompts = PromptSet(
        ids=[10, 11, 12],
        boxes_xyxy=np.arange(12, dtype=np.float64).reshape(3, 4),
        crs=pyproj.CRS.from_epsg(32633),
        classes=["car", None, "ship"],
        attributes=[{"a": 0}, {"a": 1}, {"a": 2}],
        source="boxes.gpkg",
    )
    subset = subset_prompts(prompts, [2, 0])
    assert subset.ids == [12, 10] and subset.classes == ["ship", "car"]
    assert subset.boxes_xyxy.tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert subset.attributes == [{"a": 2}, {"a": 0}]
    assert subset.crs == prompts.crs and subset.source == "boxes.gpkg"
    assert len(subset_prompts(prompts, [])) == 0


class _RecordingWriter:
    """Records the chunks it is given; due once ``every`` features wait."""

    def __init__(self, every: int = 2) -> None:
        self.every = every
        self.chunks: list[tuple[list[Any], list[int]]] = []

    def due(self, waiting: int) -> bool:
        return waiting >= self.every

    def write(self, features: Any, drop_fids: list[int] = ()) -> None:  # type: ignore[assignment]
        self.chunks.append((list(features["prompt_id"]), list(drop_fids)))


def test_output_sink_drops_each_failed_feature_once_with_its_replacement():
    writer = _RecordingWriter()
    sink = OutputSink(writer, {"2": [5], "4": [7, 8]})
    sink.write(pd.DataFrame({"prompt_id": [1.0, 2.0]}))
    sink.write(pd.DataFrame({"prompt_id": [4, 2]}))
    assert writer.chunks == [([1.0, 2.0], [5]), ([4, 2], [7, 8])]
    assert sink.due(2) and not sink.due(1)


class _ListFrame:
    """Builds a "frame" that is the list of its outcomes, with a ``prompt_id`` column for the sink."""

    def build(self, outcomes: list[Any], geometries: list[Any]) -> dict[str, list[Any]]:
        assert len(outcomes) == len(geometries)
        return {"prompt_id": list(outcomes)}


def test_chunked_features_write_when_due_and_the_rest_at_the_end():
    writer = _RecordingWriter(every=2)
    collected = ChunkedFeatures(_ListFrame(), OutputSink(writer, {}))  # type: ignore[arg-type]
    with collected.collecting():
        for prompt_id in range(5):
            collected.add(prompt_id, shapely.Point(prompt_id, 0))
    assert writer.chunks == [([0, 1], []), ([2, 3], []), ([4], [])]
    assert collected.features() == {"prompt_id": [0, 1, 2, 3, 4]}


def test_chunked_features_write_the_finished_ones_on_ctrl_c_only():
    writer = _RecordingWriter(every=10)
    collected = ChunkedFeatures(_ListFrame(), OutputSink(writer, {}))  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt), collected.collecting():
        collected.add(0, shapely.Point(0, 0))
        collected.add(1, shapely.Point(1, 0))
        raise KeyboardInterrupt
    assert writer.chunks == [([0, 1], [])]

    writer = _RecordingWriter(every=10)
    collected = ChunkedFeatures(_ListFrame(), OutputSink(writer, {}))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError), collected.collecting():
        collected.add(0, shapely.Point(0, 0))
        raise RuntimeError("engine crashed")
    assert writer.chunks == []  # only Ctrl-C writes early; other errors propagate untouched


def test_chunked_features_without_a_sink_only_collect():
    collected = ChunkedFeatures(_ListFrame(), None)  # type: ignore[arg-type]
    with collected.collecting():
        collected.add(3, shapely.Point(0, 0))
    assert collected.written == 0 and collected.features() == {"prompt_id": [3]}


def _layer(path: Path, rows: list[tuple[int, str, str]], engine: str = "box") -> None:
    """A GeoPackage layer 'objects' with (prompt_id, source, status) rows made by ``engine``."""
    geoms = [shapely.box(500000 + i, 5000000, 500001 + i, 5000001) for i in range(len(rows))]
    frame = gpd.GeoDataFrame(
        {
            "prompt_id": [r[0] for r in rows],
            "source": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "engine": [engine] * len(rows),
            "model": ["box"] * len(rows),
        },
        geometry=geoms,
        crs="EPSG:32633",
    )
    write_features(frame, path, layer="objects")


def _open(out: Path, mode: str, ids: list[int]) -> Any:
    return open_output(
        out,
        "objects",
        mode,
        scene_name="scene.tif",
        prompt_ids=ids,
        engine=BoxEngine(),
        every_seconds=30.0,
        every_features=1000,
    )


def test_open_output_resume_plans_the_missing_prompts(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    _layer(out, [(1, "scene.tif", "ok"), (2, "scene.tif", "failed")])
    run = _open(out, "resume", [1, 2, 3])
    assert run.todo == [1, 2] and run.already_done == 1 and run.resumed
    assert run.sink.replaced == {"2": [2]}
    assert run.writer.mode == "append" and run.writer.path == out


def test_open_output_resume_without_output_or_with_another_engine(tmp_path: Path):
    run = _open(tmp_path / "new.gpkg", "resume", [1, 2])
    assert run.todo == [0, 1] and run.already_done == 0 and not run.resumed

    out = tmp_path / "out.gpkg"
    _layer(out, [(1, "scene.tif", "ok")], engine="grabcut")
    with pytest.raises(
        InputError, match=r"made with engine grabcut \(model 'box'\), this run uses engine box"
    ):
        _open(out, "resume", [1])


def test_open_output_append_does_not_read_the_layer(tmp_path: Path):
    out = tmp_path / "out.gpkg"
    _layer(out, [(1, "scene.tif", "ok")], engine="grabcut")  # another engine: fine when appending
    run = _open(out, "append", [1, 2])
    assert run.todo == [0, 1] and not run.resumed and run.writer.mode == "append"


def test_unknown_option_of_segment_to_file_names_the_valid_ones(tmp_path):
    from rossam_geo.api import Segmenter

    with pytest.raises(InputError, match=r"unknown option\(s\) crop_px; valid options: crop_size, upsample"):
        Segmenter("box").segment_to_file("scene.tif", np.zeros((1, 4)), tmp_path / "out.gpkg", crop_px=64)
    assert not (tmp_path / "out.gpkg").exists()
