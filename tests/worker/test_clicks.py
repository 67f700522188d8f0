"""Refinement clicks in ``segment`` requests: per-box points and labels in the request's CRS, the client's
prompt ids echoed, and malformed members refused with -32602."""

from __future__ import annotations

import re

import pytest
from shapely.geometry import shape

from tests.segmentation.clicks_scene import ON_A, ON_B, A, B, box_in, covered, to_crs, write_scene
from tests.worker.conftest import WorkerProcess


@pytest.fixture(scope="module")
def two_objects(tmp_path_factory: pytest.TempPathFactory):
    return write_scene(tmp_path_factory.mktemp("clicks") / "two.tif")


def test_clicks_refine_their_box_and_prompt_ids_are_echoed(worker: WorkerProcess, two_objects):
    on_b, on_a = ([x, y] for x, y in to_crs([ON_B, ON_A], "EPSG:3857"))
    params = {
        "raster": str(two_objects),
        "boxes": [list(box_in("EPSG:3857"))] * 3,
        "crs": "EPSG:3857",
        "engine": "grabcut",
        "prompt_ids": [17, "b", 18],
        "points": [None, [on_b], [on_b, on_a]],
        "point_labels": [None, [1], [1, 0]],
    }
    features = worker.call("segment", params)["result"]["features"]
    assert [f["properties"]["prompt_id"] for f in features] == [17, "b", 18]
    assert [f["properties"]["status"] for f in features] == ["ok"] * 3
    box_only, with_b, without_a = (shape(f["geometry"]) for f in features)
    assert covered(box_only, A) > 0.95 and covered(box_only, B) == 0
    assert covered(with_b, A) > 0.95 and covered(with_b, B) > 0.95
    assert covered(without_a, A) == 0 and covered(without_a, B) > 0.95


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"prompt_ids": [1, 1]}, '"prompt_ids" must be unique'),
        ({"prompt_ids": [1]}, r'"prompt_ids" must be a list with one entry per box \(2\)'),
        ({"prompt_ids": [1, 2.5]}, r'"prompt_ids"\[1\] must be an integer or a string'),
        ({"points": [None, [[1, 2]]]}, 'give "points" and "point_labels" together'),
        (
            {"points": [None, [[1, 2]]], "point_labels": [None, [1, 0]]},
            r'"points"\[1\] and "point_labels"\[1\]',
        ),
        (
            {"points": [None, [[1, "2"]]], "point_labels": [None, [1]]},
            r'"points"\[1\] must hold \[x, y\] pairs',
        ),
        ({"points": [None, [[1, 2]]], "point_labels": [None, [2]]}, r'"point_labels"\[1\] must hold 1'),
    ],
)
def test_malformed_clicks_get_32602(worker: WorkerProcess, utm_raster, extra, match):
    params = {"raster": str(utm_raster), "boxes": [[0, 0, 1, 1], [0, 0, 2, 2]], "engine": "box", **extra}
    error = worker.call("segment", params)["error"]
    assert error["code"] == -32602
    assert re.search(match, error["message"]), error["message"]
