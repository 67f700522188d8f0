"""Boxes drawn over background: prompts of object sizes that overlap no ground-truth object.

A box over background has no object to find, so a score that is a predicted IoU should be low there. The
evaluation draws such boxes, segments them and summarises their scores to measure it, and the compact
training recipe can prompt them with an empty target. Boxes have whole-pixel edges and lie entirely inside
the image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import InputError

if TYPE_CHECKING:
    from rossam_geo.evaluate.objects import GroundTruth
    from rossam_geo.evaluate.segmenter import SegmenterLike

#: Placements tried per wanted box before giving up on it.
TRIES_PER_BOX = 50


def boxes_occupancy(boxes_px_xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixels covered by any of the boxes, each widened outward to whole pixels.

    Args:
        boxes_px_xyxy: (N, 4) float XYXY boxes in pixel edges.
        height, width: image shape in pixels.

    Returns:
        (height, width) bool.
    """
    occupied = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4):
        c0, r0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        c1, r1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
        occupied[r0:r1, c0:c1] = True
    return occupied


def sample_background_boxes(
    occupied: np.ndarray, sizes_wh_px: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw boxes that cover no occupied pixel.

    Each box takes the (width, height) of a uniformly drawn row of ``sizes_wh_px`` (rounded to whole pixels,
    at least 1) and a uniformly drawn position inside the image; a placement covering an occupied pixel is
    redrawn, up to :data:`TRIES_PER_BOX` times, after which that box is given up.

    Args:
        occupied: (H, W) bool, the pixels a box must not cover (e.g. :func:`boxes_occupancy` of the objects).
        sizes_wh_px: (K, 2) box sizes (width, height) in pixels to draw from, e.g. the objects' box sizes.
        count: boxes wanted.
        rng: random generator.

    Returns:
        (M, 4) float64 XYXY boxes in pixel edges, M <= ``count`` (fewer when the free space is too small).

    Raises:
        InputError: negative count, or sizes not of shape (K, 2).
    """
    if count < 0:
        raise InputError(f"the number of background boxes must be >= 0, got {count}")
    sizes = np.asarray(sizes_wh_px, dtype=np.float64)
    if count == 0 or sizes.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if sizes.ndim != 2 or sizes.shape[1] != 2:
        raise InputError(f"box sizes must have shape (K, 2), got {sizes.shape}")
    height, width = occupied.shape
    # summed-area table: the occupied pixels of any box in four lookups
    table = np.zeros((height + 1, width + 1), dtype=np.int64)
    table[1:, 1:] = occupied.astype(np.int64).cumsum(0).cumsum(1)
    boxes: list[tuple[float, float, float, float]] = []
    for _ in range(count):
        for _try in range(TRIES_PER_BOX):
            w, h = (max(1, round(float(v))) for v in sizes[rng.integers(len(sizes))])
            if w > width or h > height:
                continue
            x0, y0 = int(rng.integers(width - w + 1)), int(rng.integers(height - h + 1))
            x1, y1 = x0 + w, y0 + h
            if table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0] == 0:
                boxes.append((float(x0), float(y0), float(x1), float(y1)))
                break
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def dataset_background_boxes(gt: GroundTruth, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Draw ``count`` background boxes over the images of a ground truth, seeded.

    The boxes are shared out evenly over the images that hold objects (the first images get one more when
    ``count`` does not divide); each box takes the size of a random ground-truth box of the whole dataset and
    covers no ground-truth box of its image (:func:`boxes_occupancy`, :func:`sample_background_boxes`).

    Args:
        gt: ground truth (objects without a box are ignored).
        count: boxes wanted in all.
        seed: seed of the draw.

    Returns:
        Image key -> (M, 4) float64 XYXY boxes in pixel edges, for images that got at least one box.
    """
    boxes_by_image: dict[str, list[tuple[float, float, float, float]]] = {}
    for obj in gt.objects.values():
        if obj.box_px_xyxy is not None:
            boxes_by_image.setdefault(obj.image_id, []).append(obj.box_px_xyxy)
    keys = [k for k in gt.images if k in boxes_by_image]
    if count <= 0 or not keys:
        return {}
    all_boxes = np.array([b for k in keys for b in boxes_by_image[k]], dtype=np.float64)
    sizes_wh = all_boxes[:, 2:] - all_boxes[:, :2]
    rng = np.random.default_rng(seed)
    drawn: dict[str, np.ndarray] = {}
    for i, key in enumerate(keys):
        quota = count // len(keys) + (1 if i < count % len(keys) else 0)
        grid = gt.images[key]
        occupied = boxes_occupancy(np.array(boxes_by_image[key]), grid.height, grid.width)
        boxes = sample_background_boxes(occupied, sizes_wh, quota, rng)
        if len(boxes):
            drawn[key] = boxes
    return drawn


def segment_background(
    segmenter: SegmenterLike, image: np.ndarray, boxes_px_xyxy: np.ndarray, image_name: str
) -> list[dict[str, Any]]:
    """Segment boxes over background on one image: a row per box, without score where the engine failed.

    Returns:
        Per box: ``image``, ``box_px_xyxy``, ``score``, ``status``, ``reason`` and ``pred_area_px``.
    """
    boxes = [[float(v) for v in box] for box in boxes_px_xyxy]
    try:
        results = list(segmenter.segment_array(image, np.asarray(boxes_px_xyxy, dtype=np.float64)))
        if len(results) != len(boxes):
            raise InputError(f"the engine returned {len(results)} results for {len(boxes)} boxes")
    except Exception as exc:  # reported on the boxes; the evaluation goes on
        reason = f"{type(exc).__name__}: {exc}"
        failed = {"score": None, "status": "error", "reason": reason, "pred_area_px": 0}
        return [{"image": image_name, "box_px_xyxy": b, **failed} for b in boxes]
    return [
        {
            "image": image_name,
            "box_px_xyxy": box,
            "score": None if r.score is None else float(r.score),
            "status": str(getattr(r, "status", "ok") or "ok"),
            "reason": str(getattr(r, "reason", "") or ""),
            "pred_area_px": int(np.count_nonzero(np.asarray(r.mask))),
        }
        for box, r in zip(boxes, results, strict=True)
    ]


def background_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Count and mean score of background-box rows (rows without a finite score are not averaged).

    Returns:
        ``{"n_boxes", "n_scored", "mean_score", "boxes"}``.
    """
    scores = [float(r["score"]) for r in rows if r["score"] is not None and np.isfinite(r["score"])]
    return {
        "n_boxes": len(rows),
        "n_scored": len(scores),
        "mean_score": float(np.mean(scores)) if scores else None,
        "boxes": [dict(r) for r in rows],
    }
