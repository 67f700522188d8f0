"""Scoring matched predictions: one row per ground-truth object and one per image.

Objects are matched by id. A ground-truth object without a prediction is scored 0 with status
``"missing"``; a prediction that could not be read is scored 0 with status ``"error"``.

Boundary IoU per object is reported twice:
    * ``biou``: band width ``d`` from the FULL image's diagonal (the official definition, as in the paper and
      in the COCO boundary evaluation); for objects much smaller than ``d`` the band covers the whole object
      and Boundary IoU equals mask IoU;
    * ``biou_object``: ``d`` from the object's own ground-truth box diagonal (at least 1 pixel), which keeps
      the score sensitive to the outline of small objects.

Per image (as the paper reports): the union of all ground-truth objects of the image against the union of
their matched predictions, IoU and Boundary IoU (``d`` from the image diagonal) per image.

Size buckets use the ground-truth mask area in pixels: ``small`` < 32² (1024), ``medium`` 32² to < 96²
(9216), ``large`` >= 96², as COCO; a separate flag ``under_32x32`` marks objects whose ground-truth box fits
in 32 x 32 pixels (width and height <= 32), where most moving objects in satellite imagery are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from rossam_geo.evaluate.masks import CroppedMask, score_cropped, union_masks
from rossam_geo.evaluate.metrics import DEFAULT_DILATION_RATIO, dilation_px
from rossam_geo.evaluate.sources import GroundTruth, Predictions

SizeBucket = Literal["small", "medium", "large"]

SMALL_MAX_AREA_PX = 32**2
MEDIUM_MAX_AREA_PX = 96**2
UNDER_32X32_SIDE_PX = 32


def size_bucket(area_px: int) -> SizeBucket:
    """COCO size bucket of a ground-truth area in pixels: small < 32², medium < 96², else large."""
    if area_px < SMALL_MAX_AREA_PX:
        return "small"
    if area_px < MEDIUM_MAX_AREA_PX:
        return "medium"
    return "large"


@dataclass(frozen=True)
class ObjectRow:
    """Scores of one ground-truth object.

    Attributes:
        object_id: ground-truth id.
        image_id: its image's key.
        image_name: its image's file name.
        class_name: ground-truth class.
        gt_area_px: ground-truth mask area, pixels.
        gt_box_width_px: width of the ground-truth mask's bounding box, pixels.
        gt_box_height_px: height of that box, pixels.
        size: COCO size bucket of ``gt_area_px``.
        under_32x32: the ground-truth box fits in 32 x 32 pixels.
        status: ``ok`` / ``skipped`` / ``failed`` (from the prediction), ``missing``, or ``error``.
        reason: why the status is not ``ok``.
        score: the prediction's confidence, None when absent.
        pred_area_px: predicted mask area, pixels (0 when missing).
        iou: mask IoU.
        biou: Boundary IoU, band width from the image diagonal.
        biou_object: Boundary IoU, band width from the object's box diagonal.
        boundary: ``min(iou, biou)``, the official boundary score.
        dilation_px: band width of ``biou``, pixels.
        dilation_object_px: band width of ``biou_object``, pixels.
    """

    object_id: str
    image_id: str
    image_name: str
    class_name: str | None
    gt_area_px: int
    gt_box_width_px: int
    gt_box_height_px: int
    size: SizeBucket
    under_32x32: bool
    status: str
    reason: str
    score: float | None
    pred_area_px: int
    iou: float
    biou: float
    biou_object: float
    boundary: float
    dilation_px: int
    dilation_object_px: int

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ImageRow:
    """Per-image scores: union of all ground-truth objects vs union of their predictions.

    Attributes:
        image_id: image key.
        image_name: file name.
        n_objects: ground-truth objects in the image.
        iou: mask IoU of the unions.
        biou: Boundary IoU of the unions (band width from the image diagonal).
        boundary: ``min(iou, biou)``.
        dilation_px: band width, pixels.
    """

    image_id: str
    image_name: str
    n_objects: int
    iou: float
    biou: float
    boundary: float
    dilation_px: int

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


def score_objects(
    gt: GroundTruth, predictions: Predictions, dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> list[ObjectRow]:
    """Score every ground-truth object against its matched prediction.

    Args:
        gt: ground truth.
        predictions: predictions matched to ``gt`` by id.
        dilation_ratio: Boundary IoU ratio of the diagonal.

    Returns:
        One row per ground-truth object, in ground-truth order.
    """
    rows: list[ObjectRow] = []
    image_dilation = {
        key: dilation_px(grid.height, grid.width, dilation_ratio) for key, grid in gt.images.items()
    }
    for oid, obj in gt.objects.items():
        grid = gt.images[obj.image_id]
        box = obj.mask.box_px_xyxy
        box_w, box_h = (0, 0) if box is None else (box[2] - box[0], box[3] - box[1])
        d_image = image_dilation[obj.image_id]
        d_object = dilation_px(box_h, box_w, dilation_ratio)
        pred = predictions.matched.get(oid)
        if pred is None:
            status, reason, score, pred_mask = "missing", "no prediction with this id", None, None
        else:
            status, reason, score, pred_mask = pred.status, pred.reason, pred.score, pred.mask
        if pred_mask is None:
            iou = biou = biou_object = 0.0
            pred_area = 0
        else:
            image_scores = score_cropped(obj.mask, pred_mask, d_image)
            iou, biou = image_scores.iou, image_scores.biou
            biou_object = score_cropped(obj.mask, pred_mask, d_object).biou
            pred_area = pred_mask.area_px
        rows.append(
            ObjectRow(
                object_id=oid,
                image_id=obj.image_id,
                image_name=grid.name,
                class_name=obj.class_name,
                gt_area_px=obj.mask.area_px,
                gt_box_width_px=box_w,
                gt_box_height_px=box_h,
                size=size_bucket(obj.mask.area_px),
                under_32x32=box_w <= UNDER_32X32_SIDE_PX and box_h <= UNDER_32X32_SIDE_PX,
                status=status,
                reason=reason,
                score=score,
                pred_area_px=pred_area,
                iou=iou,
                biou=biou,
                biou_object=biou_object,
                boundary=min(iou, biou),
                dilation_px=d_image,
                dilation_object_px=d_object,
            )
        )
    return rows


def score_images(
    gt: GroundTruth, predictions: Predictions, dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> list[ImageRow]:
    """Score each image holding ground-truth objects: union of objects vs union of their predictions.

    Unmatched predictions are ignored. Images without ground-truth objects are left out.
    """
    by_image: dict[str, list[str]] = {}
    for oid, obj in gt.objects.items():
        by_image.setdefault(obj.image_id, []).append(oid)
    rows: list[ImageRow] = []
    for key, grid in gt.images.items():
        ids = by_image.get(key)
        if not ids:
            continue
        gt_union = union_masks((gt.objects[i].mask for i in ids), grid.shape)
        pred_masks: list[CroppedMask] = []
        for i in ids:
            pred = predictions.matched.get(i)
            if pred is not None and pred.mask is not None:
                pred_masks.append(pred.mask)
        pred_union = union_masks(pred_masks, grid.shape)
        d_image = dilation_px(grid.height, grid.width, dilation_ratio)
        scores = score_cropped(gt_union, pred_union, d_image)
        rows.append(
            ImageRow(
                image_id=key,
                image_name=grid.name,
                n_objects=len(ids),
                iou=scores.iou,
                biou=scores.biou,
                boundary=scores.boundary,
                dilation_px=d_image,
            )
        )
    return rows
