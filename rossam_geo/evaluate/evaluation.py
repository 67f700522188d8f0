"""One evaluation of predictions against ground truth: score, aggregate, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rossam_geo.evaluate.matching import ImageRow, ObjectRow, score_images, score_objects
from rossam_geo.evaluate.metrics import DEFAULT_DILATION_RATIO, dilation_px
from rossam_geo.evaluate.report import build_report
from rossam_geo.evaluate.rules import RULE_DESCRIPTIONS, MatchRule, check_rule
from rossam_geo.evaluate.sources import GroundTruth, Predictions, read_ground_truth, read_predictions


@dataclass
class Evaluation:
    """Scores of one set of predictions.

    Attributes:
        object_rows: one row per ground-truth object.
        image_rows: one row per image holding ground-truth objects.
        report: the JSON-ready report (see :func:`rossam_geo.evaluate.report.build_report`).
    """

    object_rows: list[ObjectRow]
    image_rows: list[ImageRow]
    report: dict[str, Any]


def evaluate(
    gt: GroundTruth,
    predictions: Predictions,
    *,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    settings: dict[str, Any] | None = None,
    match: MatchRule = "id",
) -> Evaluation:
    """Score matched predictions per object and per image and build the report.

    Args:
        gt: ground truth.
        predictions: predictions matched to it (by id, or by the rule ``match``).
        dilation_ratio: Boundary IoU band width as a fraction of the diagonal (default 0.02).
        settings: extra entries for the report's ``settings``.
        match: the rule the predictions were matched by, recorded in the report.
    """
    dilation_px(1, 1, dilation_ratio)  # validates the ratio before any work
    object_rows = score_objects(gt, predictions, dilation_ratio)
    image_rows = score_images(gt, predictions, dilation_ratio)
    all_settings = {
        "ground_truth": gt.source,
        "predictions": predictions.source,
        "dilation_ratio": dilation_ratio,
        "matching": RULE_DESCRIPTIONS[check_rule(match)],
        "empty_union_score": 0.0,
        "size_buckets_px": {"small": "< 1024", "medium": "1024 to < 9216", "large": ">= 9216"},
        "under_32x32": "ground-truth box width and height <= 32 px",
    }
    all_settings.update(settings or {})
    report = build_report(
        object_rows,
        image_rows,
        settings=all_settings,
        unmatched_predictions=predictions.unmatched_ids,
        skipped_ground_truth=gt.skipped,
        repaired_ground_truth=gt.repaired,
    )
    return Evaluation(object_rows=object_rows, image_rows=image_rows, report=report)


def evaluate_files(
    predictions_path: str | Path,
    ground_truth_path: str | Path,
    *,
    raster: str | Path | None = None,
    gt_layer: str | None = None,
    pred_layer: str | None = None,
    gt_id_field: str | None = None,
    gt_class_field: str | None = None,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    match: MatchRule = "id",
) -> Evaluation:
    """Read predictions and ground truth from files and evaluate them.

    Args:
        predictions_path: segment output (GeoPackage...), COCO results JSON, or a folder of mask rasters.
        ground_truth_path: COCO instance JSON, or a vector file of polygons over ``raster``.
        raster: the image the ground truth or the predictions are georeferenced on.
        gt_layer: layer of a multi-layer ground-truth file.
        pred_layer: layer of a multi-layer prediction file.
        gt_id_field: ground-truth id field (default: feature id).
        gt_class_field: ground-truth class field (default: ``class`` when present).
        dilation_ratio: Boundary IoU band width as a fraction of the diagonal.
        match: how predictions find their object: ``"id"`` (default; predictions without ids are refused),
            ``"position"`` or ``"overlap"`` (see :mod:`rossam_geo.evaluate.rules`).

    Raises:
        InputError: unreadable inputs, or predictions without ids under ``match="id"``.
    """
    dilation_px(1, 1, dilation_ratio)
    match = check_rule(match)
    gt = read_ground_truth(
        ground_truth_path, raster=raster, layer=gt_layer, id_field=gt_id_field, class_field=gt_class_field
    )
    predictions = read_predictions(predictions_path, gt, raster=raster, layer=pred_layer, match=match)
    settings = {"raster": None if raster is None else str(raster)}
    return evaluate(gt, predictions, dilation_ratio=dilation_ratio, settings=settings, match=match)
