"""Imaging-system effects applied to a rendered scene (haze, blur, gain, noise, compression)."""

from __future__ import annotations

import cv2
import numpy as np


def sensor_v3(image: np.ndarray, rng: np.random.Generator, sar: bool) -> np.ndarray:
    """Haze, blur, gain and noise of the imaging system."""
    if not sar and rng.random() < 0.3:
        haze = rng.uniform(0.05, 0.35)
        image = image * (1 - haze) + rng.uniform(170, 235) * haze
    sigma = rng.uniform(0.0, 1.3)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image * rng.uniform(0.75, 1.25) + rng.uniform(-15, 15)
    if not sar:
        image = image + rng.normal(0, rng.uniform(0, 6), image.shape).astype(np.float32)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if not sar and rng.random() < 0.08:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return out


def sensor_v4(image: np.ndarray, rng: np.random.Generator, sar: bool) -> np.ndarray:
    """The first generator's effects (:func:`sensor_v3`) plus those of delivered optical imagery: resampling
    blur (imagery enlarged from a coarser grid), colour bleeding of pan-sharpening and JPEG compression.

    Args:
        image: (H, W, 3) float32 RGB on the 0-255 scale.
        rng: the scene's generator.
        sar: a SAR scene (speckled gray levels): only the first generator's effects.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    if not sar and rng.random() < 0.3:
        height, width = image.shape[:2]
        factor = rng.uniform(1.3, 2.5)
        small = cv2.resize(
            image,
            (max(8, round(width / factor)), max(8, round(height / factor))),
            interpolation=cv2.INTER_AREA,
        )
        image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    if not sar and rng.random() < 0.3:
        ycrcb = cv2.cvtColor(np.clip(image, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)
        sigma = rng.uniform(0.8, 2.0)
        ycrcb[..., 1:] = cv2.GaussianBlur(ycrcb[..., 1:], (0, 0), sigma)
        image = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB) * 255.0
    out = sensor_v3(np.asarray(image, np.float32), rng, sar)
    if rng.random() < (0.3 if sar else 0.6):
        out = _jpeg(out, int(rng.integers(25, 96)), gray=sar)
    return out


def _jpeg(image_rgb: np.ndarray, quality: int, gray: bool) -> np.ndarray:
    """(H, W, 3) uint8 RGB compressed and decoded in memory; ``gray`` keeps one gray band (SAR)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    source = image_rgb[..., 0] if gray else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", source, params)
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        return image_rgb
    if gray:
        return np.repeat(decoded[..., None], 3, axis=2)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
