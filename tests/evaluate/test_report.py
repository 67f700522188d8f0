"""Aggregation per class, size bucket and image; Markdown tables; output files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rossam_geo.errors import OutputExistsError
from rossam_geo.evaluate.evaluation import evaluate
from rossam_geo.evaluate.report import (
    build_report,
    comparison_table,
    markdown_report,
    summarize,
    write_outputs,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def report(scene_pair):
    gt, preds = scene_pair
    return evaluate(gt, preds, dilation_ratio=0.02, settings={"note": "hand"})


def test_overall_per_class_and_size(report):
    rep = report.report
    assert rep["overall"]["n"] == 3
    assert rep["overall"]["mean_iou"] == pytest.approx(0.5)
    assert rep["overall"]["median_iou"] == pytest.approx(0.5)
    assert rep["per_class"]["car"] == pytest.approx({**rep["per_class"]["car"], "n": 1, "mean_iou": 1.0})
    ship = rep["per_class"]["ship"]
    assert ship["n"] == 2 and ship["mean_iou"] == pytest.approx(0.25)
    assert ship["mean_biou"] == pytest.approx((222 / 546) / 2)
    sizes = rep["per_size"]
    assert (sizes["small"]["n"], sizes["small"]["mean_iou"]) == (1, 1.0)
    assert (sizes["medium"]["n"], sizes["medium"]["mean_iou"]) == (1, pytest.approx(0.5))
    assert (sizes["large"]["n"], sizes["large"]["mean_iou"]) == (1, 0.0)
    assert (sizes["under_32x32"]["n"], sizes["under_32x32"]["mean_iou"]) == (1, 1.0)
    assert rep["status_counts"] == {"missing": 1, "ok": 2}
    assert rep["unmatched_predictions"] == ["99"]
    assert rep["settings"]["note"] == "hand" and rep["settings"]["dilation_ratio"] == 0.02


def test_per_image_means_weigh_images_equally(report):
    img = report.report["per_image"]
    assert img["n_images"] == 2
    assert img["mean_iou"] == pytest.approx((900 / 1700 + 0.0) / 2)
    assert img["mean_biou"] == pytest.approx((306 / 630 + 0.0) / 2)
    assert [i["image_name"] for i in img["images"]] == ["a.png", "b.png"]


def test_empty_groups_have_null_statistics(report):
    gt_rows = [r for r in report.object_rows if r.class_name == "car"]
    rep = build_report(gt_rows, [])
    assert rep["per_size"]["large"] == {
        "n": 0,
        **{f"{s}_{m}": None for m in ("iou", "biou", "biou_object", "boundary") for s in ("mean", "median")},
        "n_scored": 0,
        "mean_score": None,
        "spearman_score_iou": None,
    }
    assert rep["per_image"]["mean_iou"] is None
    assert "| size: large | 0 | - |" in markdown_report(rep)


def test_markdown_report_in_percent(report):
    text = markdown_report(report.report)
    assert "| all objects | 3 | 50.00 | 50.00 |" in text
    assert f"| per image (union) | 2 img | {100 * 900 / 1700 / 2:.2f} |" in text
    assert "| class: car | 1 | 100.00 |" in text
    assert "| size: under_32x32 | 1 | 100.00 |" in text


def test_comparison_table_rows_per_engine(report):
    rep = dict(report.report, timing={"seconds_per_object": 0.125})
    text = comparison_table({"box": rep, "rossam": {"error": "weights not found"}})
    lines = text.splitlines()
    assert lines[0].startswith("| engine | mean IoU | mean BIoU | image IoU | image BIoU | under_32x32 IoU |")
    assert lines[2] == (
        f"| box | 50.00 | {100 * (1 + 222 / 546) / 3:.2f} | {100 * 900 / 1700 / 2:.2f} | "
        f"{100 * 306 / 630 / 2:.2f} | 100.00 (1) | 3 | 0.1250 | - | 0.850 | - |"
    )
    assert lines[3].startswith("| rossam | failed: weights not found |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    with_background = dict(rep, background={"n_boxes": 4, "n_scored": 3, "mean_score": 0.25, "boxes": []})
    assert comparison_table({"rossam": with_background}).splitlines()[2].endswith("| 0.850 | 0.250 (3) |")


def test_score_quality_statistics_skip_objects_without_score(report):
    overall = report.report["overall"]
    # objects 1 and 2 carry scores 0.9 and 0.8; object 3 is missing (no score)
    assert overall["n_scored"] == 2 and overall["mean_score"] == pytest.approx(0.85)
    assert overall["spearman_score_iou"] is None  # undefined for fewer than 3 pairs
    rows = report.object_rows
    ranked = [replace(rows[0], score=0.9), replace(rows[1], score=0.8), replace(rows[2], score=0.1)]
    assert [r.iou for r in ranked] == pytest.approx([1.0, 0.5, 0.0])
    assert summarize(ranked)["spearman_score_iou"] == pytest.approx(1.0)
    reversed_scores = [replace(r, score=1.0 - r.score) for r in ranked]
    assert summarize(reversed_scores)["spearman_score_iou"] == pytest.approx(-1.0)
    constant = [replace(r, score=1.0) for r in ranked]
    assert summarize(constant)["spearman_score_iou"] is None
    text = markdown_report(build_report(ranked, []))
    assert "| all objects | 3 | 50.00 | 50.00 |" in text and "| 1.000 | 0.600 |" in text


def test_write_outputs_and_refuse_to_overwrite(report, tmp_path: Path):
    out = tmp_path / "eval"
    paths = write_outputs(out, report.report, "table\n", {"run": report.object_rows})
    data = json.loads(paths["json"].read_text())
    assert data["overall"]["mean_iou"] == pytest.approx(0.5)
    assert len(data["objects"]) == 3 and data["objects"][2]["status"] == "missing"
    for key in ("histogram", "iou_vs_area"):
        assert paths[key].read_bytes()[:8] == PNG_SIGNATURE
    assert paths["markdown"].read_text() == "table\n"
    with pytest.raises(OutputExistsError, match="pass --overwrite or choose --out-dir"):
        write_outputs(out, report.report, "other\n", {"run": report.object_rows})
    assert paths["markdown"].read_text() == "table\n"
    write_outputs(out, report.report, "other\n", {"run": report.object_rows}, overwrite=True)
    assert paths["markdown"].read_text() == "other\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
