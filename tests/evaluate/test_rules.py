"""Matching predictions without ids (refused, or by a named rule) and unusable or invalid ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, Polygon

from rossam_geo.cli import main
from rossam_geo.errors import InputError
from rossam_geo.evaluate.evaluation import evaluate_files
from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.objects import GroundTruth, GTObject, ImageGrid
from rossam_geo.evaluate.rules import ids_by_overlap, ids_by_position, overlap_iou
from rossam_geo.evaluate.sources import read_coco_ground_truth, read_ground_truth, read_predictions
from tests.evaluate.fakes import UTM33, UTM33_TRANSFORM, pixel_rect_polygon, rect_mask, rle_of

#: two ground-truth rectangles on the 60 x 80 px UTM raster: (row, col, height, width)
RECT_A, RECT_B = (10, 20, 8, 12), (30, 40, 10, 10)


def _gt_file(tmp_path: Path) -> Path:
    frame = gpd.GeoDataFrame(
        {"class": ["car", "ship"]},
        geometry=[pixel_rect_polygon(UTM33_TRANSFORM, *RECT_A), pixel_rect_polygon(UTM33_TRANSFORM, *RECT_B)],
        crs=UTM33,
    )
    path = tmp_path / "gt.gpkg"
    frame.to_file(path, engine="pyogrio")
    return path


def _pred_without_ids(tmp_path: Path, rects: list[tuple[int, int, int, int]]) -> Path:
    frame = gpd.GeoDataFrame(
        {"score": [0.9] * len(rects)},
        geometry=[pixel_rect_polygon(UTM33_TRANSFORM, *r) for r in rects],
        crs=UTM33,
    )
    path = tmp_path / "pred.gpkg"
    frame.to_file(path, engine="pyogrio")
    return path


def test_overlap_iou_and_one_to_one_assignment():
    shape = (50, 50)
    a = CroppedMask.from_full(rect_mask(shape, 0, 0, 10, 10))
    b = CroppedMask.from_full(rect_mask(shape, 0, 5, 10, 10))
    assert overlap_iou(a, b) == pytest.approx(50 / 150)
    assert overlap_iou(a, CroppedMask.empty(shape)) == 0.0
    gt = GroundTruth(
        images={"A": ImageGrid("A", "a.png", *shape)},
        objects={
            "1": GTObject("1", "A", "car", a, (0.0, 0.0, 10.0, 10.0)),
            "2": GTObject("2", "A", "car", CroppedMask.from_full(rect_mask(shape, 30, 30, 10, 10)), None),
        },
    )
    # the second prediction fits object 1 better; the first then overlaps no free object
    predictions = [
        ("A", b),
        ("A", a),
        ("A", CroppedMask.from_full(rect_mask(shape, 31, 31, 9, 9))),
        ("A", None),
    ]
    assert ids_by_overlap(predictions, gt) == [None, "1", "2", None]
    assert ids_by_position(3, gt) == ["1", "2", None]


def test_vector_predictions_without_prompt_id_are_refused_unless_a_rule_is_named(
    utm_raster: Path, tmp_path: Path
):
    gt = read_ground_truth(_gt_file(tmp_path), raster=utm_raster)
    pred = _pred_without_ids(tmp_path, [RECT_B, RECT_A, (0, 0, 2, 2)])  # reversed, plus a stray one
    with pytest.raises(
        InputError, match=r"^predictions pred.gpkg have no 'prompt_id' field, .*--match position"
    ):
        read_predictions(pred, gt)
    by_overlap = read_predictions(pred, gt, match="overlap")
    np.testing.assert_array_equal(by_overlap.matched["1"].mask.to_full(), rect_mask((60, 80), *RECT_A))
    np.testing.assert_array_equal(by_overlap.matched["2"].mask.to_full(), rect_mask((60, 80), *RECT_B))
    assert by_overlap.unmatched_ids == ["<prediction 3: overlaps no ground-truth object>"]
    by_position = read_predictions(pred, gt, match="position")
    np.testing.assert_array_equal(by_position.matched["1"].mask.to_full(), rect_mask((60, 80), *RECT_B))
    assert by_position.unmatched_ids == ["<prediction 3: past the last ground-truth object>"]


def test_evaluation_by_overlap_scores_reversed_rows_fully(utm_raster: Path, tmp_path: Path):
    pred = _pred_without_ids(tmp_path, [RECT_B, RECT_A])
    result = evaluate_files(pred, _gt_file(tmp_path), raster=utm_raster, match="overlap")
    assert result.report["overall"]["mean_iou"] == pytest.approx(1.0)
    assert "by overlap" in result.report["settings"]["matching"]


def test_coco_results_without_ids_are_refused_unless_a_rule_is_named(coco_dir: Path, tmp_path: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    results = [
        {
            "image_id": 2,
            "category_id": 2,
            "score": 1.0,
            "segmentation": rle_of(rect_mask((50, 50), 20, 20, 12, 12)),
        },
        {
            "image_id": 1,
            "category_id": 1,
            "score": 1.0,
            "segmentation": rle_of(rect_mask((60, 80), 5, 6, 10, 8)),
        },
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(InputError, match=r"have no annotation_id or id in any entry"):
        read_predictions(path, gt)
    by_overlap = read_predictions(path, gt, match="overlap")
    assert sorted(by_overlap.matched) == ["11", "21"] and by_overlap.unmatched_ids == []
    assert by_overlap.matched["21"].mask.area_px == 144
    with pytest.raises(InputError, match="is matched by file name"):
        read_predictions(tmp_path, gt, match="position")


def test_unusable_ground_truth_is_listed_with_its_reason_and_invalid_polygons_are_repaired(
    utm_raster: Path, tmp_path: Path
):
    left, top = UTM33_TRANSFORM @ (20, 10)
    right, bottom = UTM33_TRANSFORM @ (32, 18)
    bowtie = Polygon([(left, top), (right, bottom), (right, top), (left, bottom)])  # self-intersecting
    far = pixel_rect_polygon(UTM33_TRANSFORM, 500, 500, 5, 5)
    frame = gpd.GeoDataFrame(
        {"oid": ["good", "null", "outside", "bowtie", "point", "tiny"]},
        geometry=[
            pixel_rect_polygon(UTM33_TRANSFORM, *RECT_B),
            None,
            far,
            bowtie,
            Point(left, top),
            pixel_rect_polygon(UTM33_TRANSFORM, 1, 1, 0.2, 0.2),
        ],
        crs=UTM33,
    )
    path = tmp_path / "gt.gpkg"
    frame.to_file(path, engine="pyogrio")
    assert not bowtie.is_valid
    gt = read_ground_truth(path, raster=utm_raster, id_field="oid")
    assert list(gt.objects) == ["good", "bowtie"]
    assert dict(gt.skipped) == {
        "null": "null geometry",
        "outside": "outside the raster scene.tif",
        "point": "a Point, not a polygon",
        "tiny": "covers no pixel centre of the raster (smaller than a pixel)",
    }
    assert gt.repaired == ["bowtie"]
    assert 0 < gt.objects["bowtie"].mask.area_px < 12 * 8  # two triangles, not the whole box
    pred = tmp_path / "pred.gpkg"
    gpd.GeoDataFrame(
        {"prompt_id": ["good"]}, geometry=[pixel_rect_polygon(UTM33_TRANSFORM, *RECT_B)], crs=UTM33
    ).to_file(pred, engine="pyogrio")
    runner = CliRunner()
    out = tmp_path / "eval"
    args = [
        "evaluate",
        str(pred),
        str(path),
        "--raster",
        str(utm_raster),
        "--gt-id-field",
        "oid",
        "--out-dir",
        str(out),
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluation.json").read_text())
    assert report["overall"]["n"] == 2  # the skipped ones do not halve the mean
    assert {s["id"] for s in report["skipped_ground_truth"]} == {"null", "outside", "point", "tiny"}
    assert report["repaired_ground_truth"] == ["bowtie"]
    assert "4 ground-truth annotation(s) left out: 1 x null geometry" in result.output
    assert "1 invalid ground-truth polygon(s) repaired with make_valid: bowtie" in result.output


def test_coco_null_and_empty_segmentations_are_skipped(tmp_path: Path):
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 20}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": None},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": []},
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "segmentation": rle_of(rect_mask((20, 20), 2, 2, 4, 4)),
            },
        ],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    gt = read_coco_ground_truth(path)
    assert list(gt.objects) == ["3"]
    assert gt.skipped == [("1", "null segmentation"), ("2", "empty mask (no pixel inside image a.png)")]


def test_cli_refuses_predictions_without_ids_in_one_line_and_writes_nothing(utm_raster: Path, tmp_path: Path):
    pred = _pred_without_ids(tmp_path, [RECT_B, RECT_A])
    out = tmp_path / "eval"
    args = [
        "evaluate",
        str(pred),
        str(_gt_file(tmp_path)),
        "--raster",
        str(utm_raster),
        "--out-dir",
        str(out),
    ]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert refused.output.strip().count("\n") == 0 and "--match overlap" in refused.output
    assert not out.exists()
    accepted = CliRunner().invoke(main, [*args, "--match", "overlap"])
    assert accepted.exit_code == 0, accepted.output
    assert json.loads((out / "evaluation.json").read_text())["overall"]["mean_iou"] == pytest.approx(1.0)
