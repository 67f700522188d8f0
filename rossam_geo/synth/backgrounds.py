"""Backgrounds of synthetic scenes: procedural textures and crops of permissively licensed rasters."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

#: Colour palettes (RGB 0-255) of procedural ground covers: two end colours blended by fractal noise.
PALETTES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "grass": ((70, 95, 50), (125, 135, 80)),
    "dry": ((150, 140, 105), (190, 175, 140)),
    "tarmac": ((75, 78, 80), (115, 115, 112)),
    "concrete": ((150, 150, 145), (205, 203, 195)),
    "sand": ((175, 160, 125), (220, 205, 170)),
    "water": ((25, 45, 60), (55, 85, 95)),
    "green_water": ((35, 60, 50), (70, 95, 80)),
    "soil": ((95, 75, 55), (140, 115, 85)),
    "urban": ((95, 95, 100), (170, 165, 160)),
}


def fractal_noise(shape_hw: tuple[int, int], rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Smooth random field in [0, 1]: a sum of bicubically enlarged random grids of doubling detail.

    Returns:
        (H, W) float32.
    """
    height, width = shape_hw
    field = np.zeros((height, width), np.float32)
    amplitude, total = 1.0, 0.0
    cells = int(rng.integers(2, 5))
    for _ in range(octaves):
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        field += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= float(rng.uniform(0.4, 0.65))
        cells *= 2
    field /= total
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def procedural(shape_hw: tuple[int, int], rng: np.random.Generator, palette: str) -> np.ndarray:
    """A ground cover texture of the named palette.

    Returns:
        (H, W, 3) float32 RGB on the 0-255 scale.
    """
    a, b = (np.asarray(c, np.float32) for c in PALETTES[palette])
    jitter = rng.normal(0.0, 12.0, 3).astype(np.float32)
    field = fractal_noise(shape_hw, rng)[..., None]
    image = a + (b - a) * field + jitter
    grain = rng.normal(0.0, rng.uniform(1.0, 6.0), shape_hw).astype(np.float32)[..., None]
    return np.clip(image + grain, 0, 255)


def fields_mosaic(shape_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Agricultural parcels: a few straight-edged regions of different covers."""
    height, width = shape_hw
    image = procedural(shape_hw, rng, str(rng.choice(["grass", "dry", "soil"])))
    for _ in range(int(rng.integers(1, 5))):
        cover = procedural(shape_hw, rng, str(rng.choice(["grass", "dry", "soil", "sand"])))
        angle = rng.uniform(0, np.pi)
        normal = np.array([np.cos(angle), np.sin(angle)])
        yy, xx = np.mgrid[0:height, 0:width]
        side = (xx - rng.uniform(0, width)) * normal[0] + (yy - rng.uniform(0, height)) * normal[1] > 0
        image[side] = cover[side]
    return image


@lru_cache(maxsize=8)
def _raster_rgb(path: str) -> np.ndarray:
    from rossam_geo.io import open_raster

    with open_raster(path) as reader:
        image, _ = reader.read_window_rgb(0, 0, reader.info.width, reader.info.height)
    return np.ascontiguousarray(image)


def raster_crop(
    shape_hw: tuple[int, int], rng: np.random.Generator, rasters: Sequence[str | Path]
) -> np.ndarray | None:
    """A random window of one of ``rasters``, resized by a random factor to ``shape_hw``.

    Windows with more than 1 % black (nodata) pixels are avoided; ``None`` when none was found.

    Returns:
        (H, W, 3) float32 RGB on the 0-255 scale, or None.
    """
    if not rasters:
        return None
    image = _raster_rgb(str(rasters[int(rng.integers(len(rasters)))]))
    height, width = shape_hw
    for _ in range(10):
        zoom = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
        win_h = min(image.shape[0], max(8, round(height / zoom)))
        win_w = min(image.shape[1], max(8, round(width / zoom)))
        row = int(rng.integers(0, image.shape[0] - win_h + 1))
        col = int(rng.integers(0, image.shape[1] - win_w + 1))
        window = image[row : row + win_h, col : col + win_w]
        if (window.max(axis=2) == 0).mean() > 0.01:
            continue
        resized = cv2.resize(window, (width, height), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            resized = resized[:, ::-1]
        return resized.astype(np.float32)
    return None


def speckle(shape_hw: tuple[int, int], rng: np.random.Generator, looks: float) -> np.ndarray:
    """Multiplicative SAR speckle: gamma distributed with mean 1 and ``looks`` equivalent looks.

    Returns:
        (H, W) float32.
    """
    return rng.gamma(looks, 1.0 / looks, shape_hw).astype(np.float32)
