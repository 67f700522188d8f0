"""Resume planning of a scene run (:mod:`rossam_geo.segmentation.resume`) and prompt helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pytest

from rossam_geo.api import RESUME_FIELDS as API_RESUME_FIELDS
from rossam_geo.api import check_resumable as api_check_resumable
from rossam_geo.errors import InputError
from rossam_geo.io import PromptSet
from rossam_geo.segmentation.prompts import prompt_fingerprint, prompt_key, subset
from rossam_geo.segmentation.resume import RESUME_FIELDS, check_resumable, plan_resume


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


def test_a_run_cut_short_continues_after_the_last_finished_prompt():
    table = _table([(1, 1, "scene.tif", "ok"), (2, 2, "scene.tif", "skipped"), (3, 9, "other.tif", "ok")])
    plan = plan_resume(table, "scene.tif", [1, 2, 3, 4])
    assert plan.todo == [2, 3] and plan.kept == 2 and plan.already_done == 2
    assert plan.carried == {} and plan.replaced == {} and plan.stale == []


def test_failed_prompts_are_redone_and_the_finished_ones_after_them_carried_in_order():
    table = _table(
        [
            (1, 1.0, "scene.tif", "ok"),
            (2, 2.0, "scene.tif", "failed"),
            (3, 3.0, "scene.tif", "skipped"),
            (4, 4.0, "other.tif", "ok"),  # another scene: prompt 4 of scene.tif is not done
            (5, 5.0, "other.tif", "failed"),  # another scene's failure is never replaced
        ]
    )
    plan = plan_resume(table, "scene.tif", [1, 2, 3, 4, 5, 6])
    assert plan.todo == [1, 3, 4, 5]  # positions of prompts 2, 4, 5, 6
    assert plan.kept == 1 and plan.carried == {2: 3}  # prompt 3 is written again after prompt 2's new feature
    assert plan.replaced == {1: [2], 2: [3]} and plan.already_done == 2


def test_the_latest_copy_of_a_prompt_wins_and_older_copies_are_stale():
    # a killed run left prompt 2 twice (its failed feature and the new one, before the delete)
    table = _table([(1, 1, "scene.tif", "ok"), (2, 2, "scene.tif", "failed"), (3, 2, "scene.tif", "ok")])
    plan = plan_resume(table, "scene.tif", [1, 2, 3])
    assert plan.stale == [2] and plan.kept == 2 and plan.todo == [2]


def test_features_out_of_prompt_order_are_carried_back_into_order():
    table = _table([(1, 2, "scene.tif", "ok"), (2, 1, "scene.tif", "ok")])
    plan = plan_resume(table, "scene.tif", [1, 2])
    assert plan.todo == [] and plan.kept == 1 and plan.carried == {1: 1} and plan.replaced == {1: [1]}


def test_no_layer_means_everything_to_do():
    plan = plan_resume(None, "scene.tif", [5, 6, 7])
    assert plan.todo == [0, 1, 2] and plan.already_done == 0


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


def _prompts(ids: list[Any], boxes: np.ndarray) -> PromptSet:
    return PromptSet(
        ids=ids,
        boxes_xyxy=boxes,
        crs=pyproj.CRS.from_epsg(32633),
        classes=[None] * len(ids),
        attributes=[{"a": i} for i in range(len(ids))],
        source="boxes.gpkg",
        layer="boxes",
    )


def test_subset_keeps_the_chosen_prompts_in_order():
    prompts = _prompts([10, 11, 12], np.arange(12, dtype=np.float64).reshape(3, 4))
    prompts.classes = ["car", None, "ship"]
    chosen = subset(prompts, [2, 0])
    assert chosen.ids == [12, 10] and chosen.classes == ["ship", "car"]
    assert chosen.boxes_xyxy.tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert chosen.attributes == [{"a": 2}, {"a": 0}]
    assert chosen.crs == prompts.crs and (chosen.source, chosen.layer) == ("boxes.gpkg", "boxes")
    assert len(subset(prompts, [])) == 0


def test_the_fingerprint_changes_with_any_id_or_box_and_only_with_them():
    boxes = np.array([[0.0, 0, 10, 10], [5.0, 5, 8, np.nan]])
    first = prompt_fingerprint(_prompts([1, 2], boxes))
    assert first.startswith("sha256:") and first == prompt_fingerprint(_prompts([1.0, "2"], boxes.copy()))
    moved = boxes.copy()
    moved[0, 2] = 10.5
    assert (
        len({first, prompt_fingerprint(_prompts([1, 3], boxes)), prompt_fingerprint(_prompts([1, 2], moved))})
        == 3
    )
    assert prompt_fingerprint(_prompts([1], boxes[:1])) != first
