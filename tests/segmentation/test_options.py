"""The options of the segment use case: listed once, the same everywhere, every value checked in one place."""

from __future__ import annotations

import io
import json
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import rossam_geo
from rossam_geo.cli.segment import segment as segment_command
from rossam_geo.errors import InputError, OptionError
from rossam_geo.segmentation import PromptOptions, SegmentOptions, option_names
from rossam_geo.worker.server import Worker
from tests.geo.fakes import make_geotiff
from tests.pipeline.oracle import OracleEngine

#: parameters of ``rossam-geo segment`` that are not options of the run: inputs, output, engine, flow.
NOT_RUN_OPTIONS = {
    "scene", "prompts", "points", "output", "layer_name", "engine", "weights", "device", "precision",
    "attention", "compile_encoder", "tta", "overwrite", "append", "resume", "preview", "scheduler", "verbose",
    "quiet",
}  # fmt: skip


def _worker_segment(params: dict) -> dict:
    """One ``segment`` request to an in-process worker; the response."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "segment", "params": params}
    out = io.BytesIO()
    Worker(io.BytesIO(json.dumps(request).encode() + b"\n"), out).serve_forever()
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    return next(m for m in messages if m.get("id") == 1)


def test_cli_options_worker_options_and_the_options_type_are_the_same_set(tmp_path: Path):
    cli = {p.name for p in segment_command.params} - NOT_RUN_OPTIONS
    assert cli == set(option_names(SegmentOptions)) | set(option_names(PromptOptions))
    assert set(option_names(SegmentOptions)) & set(option_names(PromptOptions)) == set()

    raster = make_geotiff(tmp_path / "scene.tif")
    every = SegmentOptions().to_dict()
    accepted = _worker_segment({"raster": str(raster), "boxes": [], "engine": "box", "options": every})
    assert accepted["result"]["type"] == "FeatureCollection"
    refused = _worker_segment({"raster": str(raster), "boxes": [], "engine": "box", "options": {"x": 1}})
    assert refused["error"]["code"] == -32602
    listed = re.search(r"accepted: (.*)$", refused["error"]["message"]).group(1).split(", ")
    assert set(listed) == set(option_names(SegmentOptions)) == set(every)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"crop_size": 4}, r"crop_size must be an integer of at least 8 pixels, got 4"),
        ({"crop_size": 64.5}, r"crop_size must be an integer, got 64.5"),
        ({"crop_size": "512"}, r"crop_size must be an integer, got '512'"),
        ({"upsample": 0}, r"upsample must be a positive number \(the paper uses 2\), got 0"),
        ({"upsample": float("nan")}, r"upsample must be a number, got nan"),
        ({"crop": "yes"}, r"crop must be true or false, got 'yes'"),
        ({"batch_size": 0}, r"batch_size must be at least 1, got 0"),
        ({"bands": [4, 3]}, r"bands must be 1 band \(gray\) or 3 bands"),
        ({"bands": "4,3,2"}, r"bands must be a list of 1 or 3 band numbers"),
        ({"simplify_px": -1}, r"simplify_px must be >= 0 pixels, got -1"),
        ({"min_region_px": -2.0}, r"min_region_px must be >= 0 pixels \(0 keeps every hole\), got -2.0"),
        ({"min_score": "high"}, r"min_score must be a number, got 'high'"),
        ({"output_crs": "EPSG:999999"}, r"output_crs 'EPSG:999999' is not a CRS pyproj knows"),
        ({"output_crs": 4326}, r"output_crs must be a CRS such as 'EPSG:4326' \(text\), got 4326"),
        ({"polygon_workers": -1}, r"polygon_workers must be >= 0, got -1"),
        ({"crop_sise": 1}, r"unknown option\(s\) crop_sise; valid options: crop_size, upsample"),
    ],
)
def test_bad_segment_options_are_refused_with_one_line(values, message):
    with pytest.raises(InputError, match=message) as caught:
        SegmentOptions.from_mapping(values)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"boxes_crs": "EPSG:nope"}, r"boxes_crs 'EPSG:nope' is not a CRS pyproj knows"),
        ({"layer": ""}, r"layer must be a non-empty name, got ''"),
        ({"layer": " boxes"}, r"layer ' boxes' starts or ends with spaces"),
        ({"class_field": ""}, r"class_field must be a non-empty name"),
        ({"pixel": 1}, r"pixel must be true or false, got 1"),
        (
            {"pixel": True, "boxes_crs": "EPSG:4326"},
            r"boxes_crs 'EPSG:4326' and pixel coordinates \(--pixel\) exclude",
        ),
    ],
)
def test_bad_prompt_options_are_refused(values, message):
    with pytest.raises(OptionError, match=message) as caught:
        PromptOptions.from_mapping(values)
    assert str(caught.value).startswith(caught.value.option)


def test_good_values_are_kept_and_normalised():
    options = SegmentOptions(crop_size=256.0, bands=[4, 3, 2], output_crs="EPSG:4326", batch_size=2)
    assert options.crop_size == 256 and isinstance(options.crop_size, int)
    assert options.bands == (4, 3, 2) and options.to_dict()["bands"] == [4, 3, 2]
    assert [f.default for f in fields(SegmentOptions) if f.name == "min_region_px"] == [25.0]


def test_min_score_keeps_the_polygon_and_marks_the_status(tmp_path: Path):
    from tests.pipeline.conftest import draw_key_scene

    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30)])
    boxes = np.array([[8.0, 8, 32, 32]])
    kept = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True, min_score=0.7)
    low = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True, min_score=0.8)
    assert kept["status"].tolist() == ["ok"] and kept["reason"].tolist() == [""]
    assert low["status"].tolist() == ["low_score"]  # the oracle scores 0.75
    assert low["reason"].tolist() == ["score 0.750 is below min_score 0.8"]
    assert low.geometry.iloc[0].equals(kept.geometry.iloc[0]) and not low.geometry.iloc[0].is_empty
