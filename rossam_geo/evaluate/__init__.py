"""Evaluation of box-prompted segmentation: mask IoU, Boundary IoU, per object / image / class / size.

Library entry points (the ``rossam-geo evaluate`` command calls these):
    * :func:`evaluate_files` scores a prediction file (GeoPackage, COCO results, mask folder) against ground
      truth (COCO JSON, or polygons over a raster);
    * :func:`evaluate_dataset` runs several engines on a COCO dataset folder and scores them together;
    * :mod:`rossam_geo.evaluate.metrics` holds the pure metric functions on bool masks.
"""

from __future__ import annotations

from rossam_geo.evaluate.dataset import DatasetEvaluation, evaluate_dataset, load_coco_dataset
from rossam_geo.evaluate.evaluation import Evaluation, evaluate, evaluate_files
from rossam_geo.evaluate.masks import CroppedMask, score_cropped
from rossam_geo.evaluate.matching import ImageRow, ObjectRow, score_images, score_objects
from rossam_geo.evaluate.metrics import (
    DEFAULT_DILATION_RATIO,
    boundary_iou,
    boundary_score,
    dilation_px,
    mask_boundary,
    mask_iou,
)
from rossam_geo.evaluate.report import build_report, comparison_table, markdown_report, write_outputs
from rossam_geo.evaluate.sources import GroundTruth, Predictions, read_ground_truth, read_predictions

__all__ = [
    "DEFAULT_DILATION_RATIO",
    "CroppedMask",
    "DatasetEvaluation",
    "Evaluation",
    "GroundTruth",
    "ImageRow",
    "ObjectRow",
    "Predictions",
    "boundary_iou",
    "boundary_score",
    "build_report",
    "comparison_table",
    "dilation_px",
    "evaluate",
    "evaluate_dataset",
    "evaluate_files",
    "load_coco_dataset",
    "markdown_report",
    "mask_boundary",
    "mask_iou",
    "read_ground_truth",
    "read_predictions",
    "score_cropped",
    "score_images",
    "score_objects",
    "write_outputs",
]
