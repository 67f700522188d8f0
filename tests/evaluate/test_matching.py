"""Per-object and per-image scoring of matched predictions, on the hand-computed ``scene_pair``.

Image A (100 x 100, d = round(0.02 * 141.4) = 3):
    object "1" (car): 10 x 10 square at (10, 10), predicted exactly -> IoU 1;
    object "2" (ship): 40 x 40 square at (50, 50), predicted as its left half (40 x 20) -> IoU 0.5.
Image B (200 x 200): object "3" (ship): 100 x 100 square at (50, 50), no prediction -> missing, IoU 0.
Prediction "99" has no ground truth.
"""

from __future__ import annotations

import pytest

from rossam_geo.evaluate.matching import score_images, score_objects, size_bucket
from rossam_geo.evaluate.sources import Prediction


def test_size_bucket_edges():
    assert size_bucket(0) == "small" and size_bucket(1023) == "small"
    assert size_bucket(1024) == "medium" and size_bucket(9215) == "medium"
    assert size_bucket(9216) == "large"


def test_object_rows_hand_computed(scene_pair):
    gt, preds = scene_pair
    rows = {r.object_id: r for r in score_objects(gt, preds, 0.02)}
    assert [r for r in rows] == ["1", "2", "3"]
    r1, r2, r3 = rows["1"], rows["2"], rows["3"]
    assert (r1.iou, r1.biou, r1.boundary, r1.status) == (1.0, 1.0, 1.0, "ok")
    assert (r1.size, r1.under_32x32, r1.gt_area_px) == ("small", True, 100)
    assert r1.dilation_px == 3 and r1.dilation_object_px == 1  # 0.02 * 14.1 rounds to 0 -> 1
    assert r2.iou == pytest.approx(0.5)
    # d = 3: GT band 1600 - 34^2 = 444 px, prediction band 800 - 34 * 14 = 324 px,
    # shared 6 * 20 + 34 * 3 = 222 px
    assert r2.biou == pytest.approx(222 / 546)
    assert r2.boundary == pytest.approx(222 / 546)
    # d = 1 (object box diagonal 56.6 * 0.02 = 1.13): bands 156 and 116 px, shared 20 + 20 + 38 = 78 px
    assert r2.dilation_object_px == 1
    assert r2.biou_object == pytest.approx(78 / (156 + 116 - 78))
    assert (r2.size, r2.under_32x32, r2.pred_area_px, r2.score) == ("medium", False, 800, 0.8)
    assert (r3.status, r3.iou, r3.biou, r3.pred_area_px, r3.size) == ("missing", 0.0, 0.0, 0, "large")
    assert r3.score is None and r3.image_name == "b.png"


def test_image_rows_are_unions(scene_pair):
    gt, preds = scene_pair
    rows = {r.image_id: r for r in score_images(gt, preds, 0.02)}
    a, b = rows["A"], rows["B"]
    assert a.n_objects == 2 and b.n_objects == 1
    # union GT 100 + 1600, union prediction 100 + 800, all inside the GT
    assert a.iou == pytest.approx(900 / 1700)
    # bands: GT 84 + 444, prediction 84 + 324, shared 84 + 222
    assert a.biou == pytest.approx(306 / 630)
    assert (b.iou, b.biou) == (0.0, 0.0)
    assert b.dilation_px == 6  # 0.02 * 282.8 = 5.66


def test_unreadable_prediction_scores_zero_with_its_reason(scene_pair):
    gt, preds = scene_pair
    preds.matched["1"] = Prediction("1", None, None, "error", "bad file")
    row = score_objects(gt, preds)[0]
    assert (row.status, row.reason, row.iou, row.biou) == ("error", "bad file", 0.0, 0.0)
