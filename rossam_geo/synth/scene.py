"""Seeded synthetic overhead scenes with exact instance masks.

Scene kinds: ``airfield`` (airplanes, terminal, boarding bridges), ``harbour`` (ships at piers and in the
basin), ``sea`` (ships with wakes among waves), ``parking`` (cars and trucks in rows), ``road`` (vehicles
along roads), ``rail`` (trains on tracks) and ``sar`` (bright ships on dark speckled sea, grayscale).
Pixels are x right, y down; object polygons are filled with OpenCV at 1/16 px precision, so masks are
exact pixel-centre rasterisations of the drawn outlines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from rossam_geo.errors import InputError
from rossam_geo.synth.air_sea import draw_airfield, draw_harbour, draw_sar, draw_sea
from rossam_geo.synth.canvas import Canvas, SynthScene
from rossam_geo.synth.land import draw_parking, draw_rail, draw_road

SCENE_KINDS: tuple[str, ...] = ("airfield", "harbour", "sea", "parking", "road", "rail", "sar")
#: Default share of each scene kind.
KIND_WEIGHTS: dict[str, float] = {
    "airfield": 0.2,
    "harbour": 0.13,
    "sea": 0.1,
    "parking": 0.17,
    "road": 0.12,
    "rail": 0.1,
    "sar": 0.18,
}
CATEGORIES: tuple[str, ...] = ("airplane", "ship", "car", "truck", "train")

_KIND_FUNCS: dict[str, Callable[[Canvas, Sequence[str | Path]], None]] = {
    "airfield": draw_airfield,
    "harbour": draw_harbour,
    "sea": draw_sea,
    "parking": draw_parking,
    "road": draw_road,
    "rail": draw_rail,
    "sar": draw_sar,
}


def _sensor(image: np.ndarray, rng: np.random.Generator, sar: bool) -> np.ndarray:
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


def generate_scene(
    seed: int | Sequence[int] | np.random.Generator,
    size_px: int = 256,
    kind: str | None = None,
    background_rasters: Sequence[str | Path] = (),
) -> SynthScene:
    """Generate one scene; the same seed and arguments give the same scene.

    Args:
        seed: an integer (or sequence of integers) seeding numpy's default generator, or a generator.
        size_px: side of the square scene in pixels.
        kind: one of :data:`SCENE_KINDS`; None draws one with :data:`KIND_WEIGHTS`.
        background_rasters: paths of permissively licensed rasters whose crops may serve as backgrounds.

    Returns:
        The :class:`SynthScene` (possibly with zero objects when none fitted; callers skip those).

    Raises:
        InputError: unknown kind or a size below 32 px.
    """
    if size_px < 32:
        raise InputError(f"size_px must be at least 32, got {size_px}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if kind is None:
        kinds = list(KIND_WEIGHTS)
        weights = np.array([KIND_WEIGHTS[k] for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    if kind not in _KIND_FUNCS:
        raise InputError(f"unknown scene kind {kind!r}; choose one of: {', '.join(SCENE_KINDS)}")
    sun = rng.uniform(0, 2 * np.pi)
    canvas = Canvas(
        image=np.zeros((size_px, size_px, 3), np.float32),
        rng=rng,
        sun_xy=np.array([np.cos(sun), np.sin(sun)]) * rng.uniform(0.3, 1.5),
    )
    _KIND_FUNCS[kind](canvas, background_rasters)
    image = _sensor(canvas.image.astype(np.float32), rng, kind == "sar")
    masks = np.stack(canvas.masks) if canvas.masks else np.zeros((0, size_px, size_px), bool)
    keep = masks.sum(axis=(1, 2)) >= 2
    classes = [c for c, k in zip(canvas.classes, keep, strict=True) if k]
    return SynthScene(image_rgb=image, masks=masks[keep], classes=classes, kind=kind)
