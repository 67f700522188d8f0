"""Quality features of masks and the score calibration built on them."""

from __future__ import annotations

import numpy as np
import pytest

from rossam_geo.errors import CheckpointError
from rossam_geo.model.score_quality import FEATURE_NAMES, ScoreCalibration, fit_calibration, quality_features


def column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURE_NAMES.index(name)]


def square_logits(size: int, rows: slice, cols: slice, inside: float, outside: float = -5.0) -> np.ndarray:
    logits = np.full((size, size), outside, dtype=np.float32)
    logits[rows, cols] = inside
    return logits


def test_features_of_hand_made_masks():
    size = 16
    # Mask: rows 2..9, cols 2..9 (64 px), of which a 4 x 8 band is only just above the threshold (0.5).
    merged = square_logits(size, slice(2, 10), slice(2, 10), 3.0)
    merged[2:6, 2:10] = 0.5
    # Variant 1 equals the mask, variant 2 is its top half (IoU 0.5).
    variant_a = merged.copy()
    variant_b = square_logits(size, slice(2, 6), slice(2, 10), 2.0)
    box = np.array([[2.0, 2.0, 12.0, 10.0]])  # 10 x 8 = 80 px, the mask is inside
    features = quality_features(
        np.stack([variant_a[None], variant_b[None]]), np.array([[0.9], [0.7]]), merged[None], box
    )
    assert features.shape == (1, len(FEATURE_NAMES))
    assert column(features, "head")[0] == pytest.approx(0.8)
    assert column(features, "stability")[0] == pytest.approx(32 / 64)  # > +1: 32 px, > -1: 64 px
    assert column(features, "agreement")[0] == pytest.approx((1.0 + 0.5) / 2)
    assert column(features, "box_fill")[0] == pytest.approx(64 / 80)
    assert column(features, "outside_box")[0] == pytest.approx(0.0)


def test_features_of_a_mask_spilling_out_of_its_box_and_of_an_empty_mask():
    size = 12
    spill = square_logits(size, slice(0, 4), slice(0, 8), 4.0)  # 32 px
    empty = np.full((size, size), -4.0, dtype=np.float32)
    logits = np.stack([spill, empty])
    boxes = np.array([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0]])
    features = quality_features(logits[None], np.zeros((1, 2)), logits, boxes)
    assert column(features, "outside_box").tolist() == pytest.approx([0.5, 0.0])
    assert column(features, "box_fill").tolist() == pytest.approx([1.0, 0.0])
    assert column(features, "stability").tolist() == pytest.approx([1.0, 0.0])
    # Without test-time augmentation the only variant is the mask itself.
    assert column(features, "agreement").tolist() == pytest.approx([1.0, 1.0])


def test_box_pixels_are_those_whose_centre_lies_in_the_box():
    logits = np.full((1, 8, 8), 1.0, dtype=np.float32)  # all 64 px in the mask
    features = quality_features(logits[None], np.zeros((1, 1)), logits, np.array([[0.6, 0.4, 2.4, 1.6]]))
    # Pixel centres in x 0.6..2.4: 1.5 only; in y 0.4..1.6: 0.5 and 1.5: 2 of the 64 mask pixels are inside.
    assert column(features, "outside_box")[0] == pytest.approx(62 / 64)


def test_calibration_applies_its_mode_and_clamps():
    calibration = ScoreCalibration(
        weights={"d8": {"head": 1.0, "agreement": 0.5}, "none": {"head": 2.0}},
        bias={"d8": -0.2, "none": 0.0},
    )
    features = np.zeros((3, len(FEATURE_NAMES)))
    features[:, 0] = [0.5, 0.9, -0.4]
    features[:, FEATURE_NAMES.index("agreement")] = [0.8, 1.0, 0.1]
    assert calibration.apply(features, "d8").tolist() == pytest.approx([0.7, 1.0, 0.0])
    assert calibration.apply(features, "none").tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert calibration.covers("d8") and not calibration.covers("flips")
    assert calibration.apply(features, "d8").dtype == np.float32


def test_calibration_round_trips_through_json_and_refuses_damage():
    calibration = ScoreCalibration(weights={"d8": {"stability": 0.25}}, bias={"d8": 0.1}, source="fit on X")
    assert ScoreCalibration.from_json(calibration.to_json()) == calibration
    for text in ("{", '{"weights": {"d8": {"colour": 1}}, "bias": {"d8": 0}}', '{"weights": {"d8": {}}}'):
        with pytest.raises(CheckpointError, match="score calibration"):
            ScoreCalibration.from_json(text)


def test_fit_recovers_a_linear_map_and_ignores_agreement_without_variants():
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (400, len(FEATURE_NAMES)))
    truth = np.array([0.5, 0.2, 0.0, 0.1, -0.3])
    target = 0.05 + features @ truth
    fitted = fit_calibration([features, features], [target, target], ["d8", "none"])
    assert fitted.bias["d8"] == pytest.approx(0.05, abs=1e-9)
    assert [fitted.weights["d8"][n] for n in FEATURE_NAMES] == pytest.approx(truth.tolist(), abs=1e-9)
    assert fitted.weights["none"]["agreement"] == 0.0


def test_rows_of_zero_weight_do_not_move_the_fit():
    rng = np.random.default_rng(1)
    features = rng.uniform(0, 1, (300, len(FEATURE_NAMES)))
    target = 0.1 + 0.6 * features[:, 0]
    noisy = target.copy()
    noisy[:100] = 5.0  # outliers, weighted out
    weights = np.r_[np.zeros(100), np.ones(200)]
    fitted = fit_calibration([features], [noisy], ["flips"], row_weights=[weights])
    assert fitted.bias["flips"] == pytest.approx(0.1, abs=1e-9)
    assert fitted.weights["flips"]["head"] == pytest.approx(0.6, abs=1e-9)
