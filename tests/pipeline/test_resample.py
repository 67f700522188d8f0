from __future__ import annotations

import cv2
import numpy as np

from rossam_geo.pipeline.plan import CropPlan
from rossam_geo.pipeline.resample import logits_to_window_mask, window_to_model_input


def test_window_is_resized_bicubic_and_padded_bottom_right():
    rng = np.random.default_rng(1)
    window = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    plan = CropPlan(0, 0, 40, 40, 80, 80, 128)
    model = window_to_model_input(window, plan)
    assert model.shape == (128, 128, 3) and model.dtype == np.uint8
    np.testing.assert_array_equal(
        model[:80, :80], cv2.resize(window, (80, 80), interpolation=cv2.INTER_CUBIC)
    )
    assert not model[80:].any() and not model[:, 80:].any()


def test_bicubic_overshoot_is_clipped_to_uint8():
    window = np.zeros((8, 8, 3), np.uint8)
    window[:, 4:] = 255
    model = window_to_model_input(window, CropPlan(0, 0, 8, 8, 16, 16, 16))
    assert model[:, 9:, 0].min() == 255 and model[:, :7, 0].max() == 0  # ringing saturates, not wraps


def test_logits_come_back_bilinear_thresholded_and_masked_by_valid():
    plan = CropPlan(0, 0, 4, 4, 8, 8, 10)
    logits = np.full((10, 10), -1.0, np.float32)
    logits[:8, 2:6] = 1.0  # model columns 2..5 = window columns 1..2
    logits[8:, :] = 5.0  # padding beyond the model region is ignored
    valid = np.ones((4, 4), bool)
    valid[0] = False
    mask = logits_to_window_mask(logits, plan, valid)
    expected = np.zeros((4, 4), bool)
    expected[1:, 1:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_step_edges_survive_the_round_trip_exactly():
    plan = CropPlan(0, 0, 32, 32, 64, 64, 64)
    window = np.zeros((32, 32, 3), np.uint8)
    window[5:20, 7:30, 1] = 255
    model = window_to_model_input(window, plan)
    logits = (model[..., 1].astype(np.float32) - 127.5) / 127.5
    np.testing.assert_array_equal(logits_to_window_mask(logits, plan, None), window[..., 1] > 0)
