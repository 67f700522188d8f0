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
