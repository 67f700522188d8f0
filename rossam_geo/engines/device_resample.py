"""Resampling between raster windows and the model input on the engine's device.

The host path (:mod:`rossam_geo.pipeline.resample`) upsamples every window to the 1024 px model input with
OpenCV before the copy to the device, and brings (B, 1024, 1024) float32 logits back. On a GPU those copies
and resizes cost more than the network: these functions take the uint8 windows to the device, resize them
there with the same filters (bicubic up, bilinear back, half-pixel centres), and return uint8 window masks,
a sixteenth of the bytes of the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def windows_to_model_input(
    windows_rgb_u8: torch.Tensor, model_hw: tuple[int, int], size_px: int
) -> torch.Tensor:
    """Resize uint8 windows to the model input on their device.

    Args:
        windows_rgb_u8: (B, h, w, 3) uint8 RGB windows.
        model_hw: (rows, cols) of the resized window in the model input.
        size_px: side S of the square model input.

    Returns:
        (B, 3, S, S) float32 on the 0-255 scale: the windows resized bicubically (rounded and saturated to
        0-255 like OpenCV's uint8 resize) into the upper-left corner, zero elsewhere.
    """
    images = windows_rgb_u8.permute(0, 3, 1, 2).float()
    rows, cols = model_hw
    if (rows, cols) != tuple(images.shape[-2:]):
        images = F.interpolate(images, (rows, cols), mode="bicubic", align_corners=False)
        images = images.round_().clamp_(0, 255)
    return F.pad(images, (0, size_px - cols, 0, size_px - rows))


def logits_to_window_masks(
    model_logits: torch.Tensor, model_hw: tuple[int, int], window_hw: tuple[int, int]
) -> torch.Tensor:
    """Bring mask logits at the model input back to the windows and threshold them on their device.

    The same steps as the host path after the logits reach the model input
    (:func:`rossam_geo.model.rossam.upsample_logits`): crop the resized window's region, bilinear to the
    window size, logit > 0.

    Args:
        model_logits: (B, 1, S, S) float logits at the model input.
        model_hw: (rows, cols) of the resized window in the model input.
        window_hw: (h, w) of the raster window.

    Returns:
        (B, h, w) uint8 masks (1: object).
    """
    rows, cols = model_hw
    logits = model_logits[:, :, :rows, :cols]
    if (rows, cols) != tuple(window_hw):
        logits = F.interpolate(logits, tuple(window_hw), mode="bilinear", align_corners=False)
    return (logits[:, 0] > 0).to(torch.uint8)
