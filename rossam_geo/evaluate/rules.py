"""How predictions are matched to ground-truth objects: by id, or, when they carry none, by a named rule.

* ``"id"`` (default): a prediction's ``prompt_id`` (vector files), ``annotation_id`` / ``id`` (COCO results)
  or file name (mask folders) names its ground-truth object. Predictions without any id are refused with a
  one-line error rather than matched silently by their order.
* ``"position"``: the k-th prediction goes to the k-th ground-truth object in source order (predictions past
  the last object are unmatched).
* ``"overlap"``: each prediction goes to the ground-truth object of its image it overlaps most (mask IoU),
  one to one, taking the largest IoU first; a prediction overlapping no free object is unmatched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast

from rossam_geo.errors import InputError
from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.objects import GroundTruth

MatchRule = Literal["id", "position", "overlap"]
MATCH_RULES: tuple[MatchRule, ...] = ("id", "position", "overlap")

#: how each rule is described in the report's settings.
RULE_DESCRIPTIONS: dict[MatchRule, str] = {
    "id": "by object id (prompt_id / COCO annotation id / mask file name)",
    "position": "by position: k-th prediction to k-th ground-truth object (--match position)",
    "overlap": (
        "by overlap: each prediction to the ground-truth object of largest IoU, one to one (--match overlap)"
    ),
}


def check_rule(rule: str) -> MatchRule:
    """``rule`` when it is one of :data:`MATCH_RULES`.

    Raises:
        InputError: any other value.
    """
    if rule not in MATCH_RULES:
        raise InputError(f"unknown match rule {rule!r}; choose one of {', '.join(MATCH_RULES)}")
    return cast(MatchRule, rule)


def missing_ids_error(path: Path, id_field: str) -> InputError:
    """The error for predictions without ids under the ``"id"`` rule: one line with both remedies."""
    return InputError(
        f"predictions {path.name} have no {id_field}, so they cannot be matched to the ground truth by "
        "id; add it, or pass --match position (k-th prediction to k-th object) or --match overlap (to the "
        "object each overlaps most)"
    )


def ids_by_position(n_predictions: int, gt: GroundTruth) -> list[str | None]:
    """Ground-truth id for each of ``n_predictions`` in order; None past the last object."""
    object_ids = list(gt.objects)
    return [object_ids[k] if k < len(object_ids) else None for k in range(n_predictions)]


def overlap_iou(a: CroppedMask, b: CroppedMask) -> float:
    """Mask IoU of two masks of the same image (0 when they do not overlap or both are empty)."""
    box_a, box_b = a.box_px_xyxy, b.box_px_xyxy
    if box_a is None or box_b is None:
        return 0.0
    x0, y0 = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    x1, y1 = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inter = int((a.window(y0, x0, y1, x1) & b.window(y0, x0, y1, x1)).sum())
    return inter / (a.area_px + b.area_px - inter) if inter else 0.0


def ids_by_overlap(
    predictions: Sequence[tuple[str, CroppedMask | None]], gt: GroundTruth
) -> list[str | None]:
    """Ground-truth id of each prediction by largest mask IoU, one to one; None if it overlaps no free object.

    Args:
        predictions: (image id, mask on that image's grid, None when unreadable) per prediction.
        gt: the ground truth.
    """
    pairs: list[tuple[float, int, str]] = []
    for index, (image_id, mask) in enumerate(predictions):
        if mask is None:
            continue
        for oid, obj in gt.objects.items():
            if obj.image_id == image_id:
                iou = overlap_iou(mask, obj.mask)
                if iou > 0.0:
                    pairs.append((iou, index, oid))
    assigned: list[str | None] = [None] * len(predictions)
    taken: set[str] = set()
    for _iou, index, oid in sorted(pairs, key=lambda p: (-p[0], p[1])):
        if assigned[index] is None and oid not in taken:
            assigned[index] = oid
            taken.add(oid)
    return assigned


def unmatched_label(index: int, rule: MatchRule) -> str:
    """How an unmatched prediction without an id is listed: its 1-based position and why."""
    why = "past the last ground-truth object" if rule == "position" else "overlaps no ground-truth object"
    return f"<prediction {index + 1}: {why}>"
