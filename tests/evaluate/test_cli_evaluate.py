"""``rossam-geo evaluate`` through click's CliRunner: files mode and dataset mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rossam_geo.cli import main
from rossam_geo.cli.evaluate import parse_weights
from rossam_geo.errors import InputError
from tests.evaluate.fakes import rect_mask, rle_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _results_file(tmp_path: Path) -> Path:
    # 11 predicted as its top half (IoU 0.5); 21 exact; 12 missing; 777 without ground truth
    results = [
        {"image_id": 1, "category_id": 1, "id": 11, "score": 1.0,
         "segmentation": rle_of(rect_mask((60, 80), 5, 6, 5, 8))},
        {"image_id": 2, "category_id": 2, "id": 21, "score": 1.0,
         "segmentation": rle_of(rect_mask((50, 50), 20, 20, 12, 12))},
        {"image_id": 2, "category_id": 2, "id": 777, "score": 1.0,
         "segmentation": rle_of(rect_mask((50, 50), 0, 0, 1, 1))},
    ]  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    return path


def test_files_mode_writes_json_plots_and_prints_table(coco_dir: Path, tmp_path: Path):
    out = tmp_path / "eval"
    args = [
        "evaluate",
        str(_results_file(tmp_path)),
        str(coco_dir / "annotations.json"),
        "--out-dir",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "evaluation.json").read_text())
    assert data["overall"]["n"] == 3
    assert data["overall"]["mean_iou"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert data["status_counts"] == {"missing": 1, "ok": 2}
    assert data["unmatched_predictions"] == ["777"]
    assert (out / "iou_histogram.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (out / "iou_vs_area.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "| all objects | 3 | 50.00 | 50.00 |" in result.output
    assert "| class: car | 1 | 50.00 |" in result.output
    assert "1 prediction(s) without ground truth, ignored: 777" in result.output
    assert "objects by status: missing 1, ok 2; reasons: 1 x no prediction with this id" in result.output


def test_existing_outputs_need_overwrite(coco_dir: Path, tmp_path: Path):
    out = tmp_path / "eval"
    args = [
        "evaluate",
        str(_results_file(tmp_path)),
        str(coco_dir / "annotations.json"),
        "--out-dir",
        str(out),
    ]
    assert CliRunner().invoke(main, args).exit_code == 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1
    assert "output exists" in again.output and "pass --overwrite" in again.output
    assert "Traceback" not in again.output
    assert CliRunner().invoke(main, [*args, "--overwrite"]).exit_code == 0


def test_user_errors_are_messages(coco_dir: Path, tmp_path: Path, utm_raster: Path):
    runner = CliRunner()
    polygons = tmp_path / "gt.gpkg"
    polygons.write_bytes(b"")
    r = runner.invoke(main, ["evaluate", str(coco_dir / "annotations.json"), str(polygons)])
    assert r.exit_code == 1 and "pass --raster with the image they outline" in r.output
    r = runner.invoke(main, ["evaluate", str(coco_dir / "annotations.json")])
    assert r.exit_code == 2 and "give PRED and GT, or --dataset DIR" in r.output
    r = runner.invoke(main, ["evaluate", "--dataset", str(coco_dir), "--engines", "box,nope"])
    assert r.exit_code == 1 and "unknown engine(s) ['nope']" in r.output
    args = [
        "evaluate",
        str(_results_file(tmp_path)),
        str(coco_dir / "annotations.json"),
        "--dilation-ratio",
        "0",
    ]
    r = runner.invoke(main, [*args, "--out-dir", str(tmp_path / "o")])
    assert r.exit_code == 1 and "dilation ratio must be a positive number, got 0.0" in r.output


def test_dataset_mode_compares_engines(coco_dir: Path, tmp_path: Path):
    out = tmp_path / "cmp"
    args = ["evaluate", "--dataset", str(coco_dir), "--engines", "box,grabcut", "--out-dir", str(out), "-q"]
    result = CliRunner().invoke(main, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "| engine | mean IoU | mean BIoU | image IoU |" in result.output
    assert "| box | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 (3) | 3 |" in result.output
    assert "| grabcut |" in result.output
    assert "box: ok 3\n" in result.output
    data = json.loads((out / "evaluation.json").read_text())
    assert set(data["engines"]) == {"box", "grabcut"}
    assert data["engines"]["grabcut"]["overall"]["n"] == 3
    assert data["n_objects"] == 3
    assert (out / "evaluation.md").read_text().count("| box |") == 1
    assert (out / "iou_vs_area.png").read_bytes()[:8] == PNG_SIGNATURE


def test_dataset_mode_reports_score_quality_and_background_boxes(coco_dir: Path, tmp_path: Path):
    out = tmp_path / "bg"
    args = ["evaluate", "--dataset", str(coco_dir), "--engines", "box", "--out-dir", str(out), "-q"]
    result = CliRunner().invoke(main, [*args, "--background-boxes", "4"])
    assert result.exit_code == 0, result.output
    assert "4 background boxes (seed 0)" in result.output
    assert "| score-IoU Spearman | mean score | background score (n) |" in result.output
    # the box engine's score is always 1: no rank correlation, and 1 over background too
    assert result.output.splitlines()[4].endswith("| - | 1.000 | 1.000 (4) |")
    data = json.loads((out / "evaluation.json").read_text())
    box = data["engines"]["box"]
    assert box["overall"]["spearman_score_iou"] is None and box["overall"]["mean_score"] == 1.0
    assert box["background"]["n_boxes"] == 4 and len(box["background"]["boxes"]) == 4
    files = ["evaluate", str(out / "evaluation.json"), str(coco_dir / "annotations.json")]
    usage = CliRunner().invoke(main, [*files, "--background-boxes", "2", "--out-dir", str(tmp_path / "x")])
    assert usage.exit_code == 2 and "--background-boxes needs --dataset DIR" in usage.output


def test_parse_weights():
    engines = ["box", "rossam", "sam"]
    assert parse_weights(("model.safetensors",), engines) == {
        "rossam": "model.safetensors",
        "sam": "model.safetensors",
    }
    assert parse_weights(("sam=sam_vit_b.pth", "rossam.safetensors"), engines) == {
        "sam": "sam_vit_b.pth",
        "rossam": "rossam.safetensors",
    }
    with pytest.raises(InputError, match="names engine 'hq-sam', which is not in --engines"):
        parse_weights(("hq-sam=x.pth",), engines)


def test_segment_output_scored_against_polygons_over_raster(utm_raster: Path, tmp_path: Path):
    import geopandas as gpd

    from tests.evaluate.fakes import UTM33, UTM33_TRANSFORM, pixel_rect_polygon

    # ground truth: two rectangles on pixel edges; prompts: their boxes in EPSG:4326, same fids
    rects = [
        pixel_rect_polygon(UTM33_TRANSFORM, 10, 20, 8, 12),
        pixel_rect_polygon(UTM33_TRANSFORM, 30, 50, 6, 6),
    ]
    gt_path = tmp_path / "gt.gpkg"
    gpd.GeoDataFrame({"class": ["ship", "car"]}, geometry=rects, crs=UTM33).to_file(gt_path)
    prompts = tmp_path / "prompts.gpkg"
    gpd.GeoDataFrame({"class": ["ship", "car"]}, geometry=rects, crs=UTM33).to_crs("EPSG:4326").to_file(
        prompts
    )
    pred = tmp_path / "pred.gpkg"
    runner = CliRunner()
    seg = runner.invoke(
        main, ["segment", str(utm_raster), str(prompts), "-o", str(pred), "--engine", "box", "-q"]
    )
    assert seg.exit_code == 0, seg.output
    out = tmp_path / "eval"
    r = runner.invoke(
        main, ["evaluate", str(pred), str(gt_path), "--raster", str(utm_raster), "--out-dir", str(out)]
    )
    assert r.exit_code == 0, r.output
    data = json.loads((out / "evaluation.json").read_text())
    assert [o["object_id"] for o in data["objects"]] == ["1", "2"]
    assert [o["status"] for o in data["objects"]] == ["ok", "ok"]
    # a 4326 box around a UTM rectangle is a hair larger than it; the box engine keeps pixel centres only
    assert [o["iou"] for o in data["objects"]] == [1.0, 1.0]
    assert data["per_class"]["ship"]["n"] == 1


def test_dataset_mode_runs_the_tta_asked_for_and_records_it(coco_dir: Path, tmp_path: Path):
    runs = {}
    for tta in ("auto", "none"):
        out = tmp_path / tta
        args = [
            "evaluate",
            "--dataset",
            str(coco_dir),
            "--engines",
            "box,rossam",
            "--out-dir",
            str(out),
            "-q",
        ]
        result = CliRunner().invoke(main, [*args, "--device", "cpu", "--tta", tta])
        assert result.exit_code == 0, result.output
        runs[tta] = (result.output, json.loads((out / "evaluation.json").read_text())["engines"])
    # the bundled compact model runs d8 by default; --tta none runs one pass; box has no tta
    assert "test-time augmentation rossam d8," in runs["auto"][0]
    assert "test-time augmentation rossam none," in runs["none"][0]
    assert runs["auto"][1]["rossam"]["settings"]["tta"] == "d8"
    assert runs["none"][1]["rossam"]["settings"]["tta"] == "none"
    assert runs["none"][1]["rossam"]["settings"]["options"] == {"tta": "none"}
    assert (
        runs["none"][1]["box"]["settings"]["tta"] is None
        and "options" not in runs["none"][1]["box"]["settings"]
    )
    ious = {tta: [o["iou"] for o in engines["rossam"]["objects"]] for tta, (_, engines) in runs.items()}
    assert ious["auto"] != ious["none"]


def test_tta_usage_errors(coco_dir: Path, tmp_path: Path):
    args = [
        "evaluate",
        "--dataset",
        str(coco_dir),
        "--engines",
        "box,grabcut",
        "--out-dir",
        str(tmp_path / "o"),
    ]
    result = CliRunner().invoke(main, [*args, "--tta", "flips"])
    assert result.exit_code == 2 and "--tta applies to the rossam, sam, hq-sam engines" in result.output
    assert not (tmp_path / "o" / "evaluation.json").exists()
    files = ["evaluate", str(coco_dir / "annotations.json"), str(coco_dir / "annotations.json")]
    usage = CliRunner().invoke(main, [*files, "--tta", "d8", "--out-dir", str(tmp_path / "x")])
    assert usage.exit_code == 2 and "--tta needs --dataset DIR" in usage.output
