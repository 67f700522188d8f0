"""Window <-> model-input resampling on the engine's device matches the host (OpenCV) resampling."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from rossam_geo.engines.device_resample import logits_to_window_masks, windows_to_model_input
from rossam_geo.model.rossam import upsample_logits
from rossam_geo.pipeline.plan import CropPlan
from rossam_geo.pipeline.resample import logits_to_window_mask, window_to_model_input


def _plan(side: int, model_side: int, size: int) -> CropPlan:
    return CropPlan(0, 0, side, side, model_side, model_side, size)


def test_bicubic_upsampling_matches_opencv_within_one_grey_level():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:64, 0:64]
    smooth = 128 + 60 * np.sin(rows / 5.0)[..., None] * np.cos(cols / 7.0)[..., None] * np.ones(3)
    windows = np.stack([np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)] * 2)
    windows[1, 20:40, 10:50] = (255, 0, 0)  # hard edges saturate the bicubic overshoot
    plan = _plan(64, 128, 160)
    expected = np.stack([window_to_model_input(w, plan) for w in windows])  # (2, 160, 160, 3) uint8
    actual = windows_to_model_input(torch.from_numpy(windows), (128, 128), 160)
    assert actual.shape == (2, 3, 160, 160) and actual.dtype == torch.float32
    actual_hwc = actual.permute(0, 2, 3, 1).numpy()
    diff = np.abs(actual_hwc - expected.astype(np.float32))
    assert diff.max() <= 1.0  # OpenCV's fixed-point bicubic rounds differently by at most one level
    assert diff.mean() < 0.1
    assert (actual_hwc[:, 128:] == 0).all() and (actual_hwc[:, :, 128:] == 0).all()  # padding


def test_windows_at_model_scale_are_copied_exactly():
    windows = np.random.default_rng(1).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    actual = windows_to_model_input(torch.from_numpy(windows), (32, 32), 64)
    assert np.array_equal(actual[0, :, :32, :32].permute(1, 2, 0).numpy(), windows[0].astype(np.float32))


def test_logits_come_back_to_the_window_like_on_the_host():
    rng = np.random.default_rng(2)
    low = cv2.GaussianBlur(rng.normal(0, 1, (32, 32)).astype(np.float32), (5, 5), 2) * 10
    plan = _plan(48, 96, 128)
    up = cv2.resize(low, (128, 128), interpolation=cv2.INTER_LINEAR)
    expected = logits_to_window_mask(up, plan, None)
    actual = logits_to_window_masks(
        upsample_logits(torch.from_numpy(low)[None, None], 128), (96, 96), (48, 48)
    )
    assert actual.shape == (1, 48, 48) and actual.dtype == torch.uint8
    assert (actual[0].numpy().astype(bool) == expected).mean() >= 0.995
