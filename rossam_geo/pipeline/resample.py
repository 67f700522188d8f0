"""Resampling between raster windows and model inputs (the forward and inverse of a :class:`CropPlan`)."""

from __future__ import annotations

import cv2
import numpy as np

from rossam_geo.pipeline.plan import CropPlan


def window_to_model_input(window_rgb_u8: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Resize a window to the model input: bicubic (cv2.INTER_CUBIC, saturated to uint8), padded with 0.

    Args:
        window_rgb_u8: (plan.height, plan.width, 3) uint8 RGB window.
        plan: the window's plan.

    Returns:
        (rows, cols, 3) uint8 with (rows, cols) = ``plan.model_shape``; the resized window fills the
        upper-left (model_height, model_width) corner.
    """
    if window_rgb_u8.shape[:2] != (plan.height, plan.width):
        raise ValueError(f"window shape {window_rgb_u8.shape[:2]} does not match the plan {plan}")
    if (plan.model_width, plan.model_height) == (plan.width, plan.height):
        resized = window_rgb_u8
    else:
        resized = cv2.resize(
            window_rgb_u8, (plan.model_width, plan.model_height), interpolation=cv2.INTER_CUBIC
        )
    rows, cols = plan.model_shape
    if (rows, cols) == resized.shape[:2]:
        return np.ascontiguousarray(resized)
    model_input = np.zeros((rows, cols, 3), np.uint8)
    model_input[: plan.model_height, : plan.model_width] = resized
    return model_input


def logits_to_window_mask(mask_logits: np.ndarray, plan: CropPlan, valid: np.ndarray | None) -> np.ndarray:
    """Bring model logits back to the window: crop the valid region, bilinear resize, threshold > 0.

    Args:
        mask_logits: (rows, cols) float logits over the model input (``plan.model_shape``).
        plan: the window's plan.
        valid: (plan.height, plan.width) bool, pixels inside the raster and not nodata; None = all valid.

    Returns:
        (plan.height, plan.width) bool mask of the object in the window.
    """
    region: np.ndarray = np.asarray(mask_logits[: plan.model_height, : plan.model_width], dtype=np.float32)
    if region.shape != (plan.model_height, plan.model_width):
        raise ValueError(f"logits of shape {mask_logits.shape} do not cover the plan's model region {plan}")
    if (plan.model_width, plan.model_height) != (plan.width, plan.height):
        region = cv2.resize(region, (plan.width, plan.height), interpolation=cv2.INTER_LINEAR)
    mask = region > 0
    if valid is not None:
        mask &= valid
    return mask
