"""The drawing canvas of synthetic scenes and the helpers every scene kind shares.

Pixels are x right, y down; polygons are filled with OpenCV at 1/16 px precision, so masks are exact
pixel-centre rasterisations of the drawn outlines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rossam_geo.synth import shapes
from rossam_geo.synth.backgrounds import fields_mosaic, fractal_noise, procedural, raster_crop

_SHIFT = 4  # OpenCV fixed-point bits: coordinates in 1/16 px
_VEHICLE_COLOURS = np.array(
    [
        [235, 235, 235],
        [20, 20, 22],
        [120, 120, 125],
        [180, 180, 185],
        [150, 25, 25],
        [30, 50, 120],
        [200, 200, 190],
        [60, 70, 60],
        [210, 170, 40],
        [90, 30, 30],
    ],
    np.float32,
)


def fill_polygons(target: np.ndarray, polys: Sequence[np.ndarray], value: float, line_type: int) -> None:
    """Fill each polygon on its own: one fillPoly call with several contours would XOR their overlaps."""
    for poly in polys:
        pts = np.round(poly * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(target, [pts], value, lineType=line_type, shift=_SHIFT)


@dataclass
class Canvas:
    """A scene being drawn: the image, the labelled objects so far and where they lie.

    Attributes:
        image: (H, W, 3) float32 RGB on the 0-255 scale.
        rng: the scene's random generator.
        masks: (H, W) bool masks of the objects added so far (disjoint: later objects occlude earlier ones).
        classes: their category names.
        occupied: union of the object masks (and of reserved areas), or None.
        sun_xy: shadow offset per pixel of object height, (x, y) pixels.
    """

    image: np.ndarray
    rng: np.random.Generator
    masks: list[np.ndarray] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    occupied: np.ndarray | None = None
    sun_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))

    @property
    def hw(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    def raster(self, polys: Sequence[np.ndarray]) -> np.ndarray:
        mask = np.zeros(self.hw, np.uint8)
        fill_polygons(mask, polys, 1, cv2.LINE_8)
        return mask.astype(bool)

    def paint(
        self, polys: Sequence[np.ndarray], colour: np.ndarray | Sequence[float], aa: bool = True
    ) -> None:
        """Draw filled polygons (not an object: no mask) with antialiased edges."""
        layer = np.zeros(self.hw, np.float32)
        fill_polygons(layer, polys, 1.0, cv2.LINE_AA if aa else cv2.LINE_8)
        alpha = layer[..., None]
        self.image = self.image * (1 - alpha) + np.asarray(colour, np.float32) * alpha

    def shadow(self, polys: Sequence[np.ndarray], height_px: float) -> None:
        offset = self.sun_xy * height_px
        if np.hypot(*offset) < 0.3:
            return
        layer = np.zeros(self.hw, np.float32)
        fill_polygons(layer, [p + offset for p in polys], 1.0, cv2.LINE_AA)
        self.image *= 1.0 - layer[..., None] * self.rng.uniform(0.3, 0.55)

    def free(self, polys: Sequence[np.ndarray], margin_px: int = 1) -> bool:
        """Whether the outline lies (centre) inside the scene and clear of earlier objects."""
        mask = self.raster(polys)
        if not mask.any():
            return False
        if self.occupied is None:
            return True
        if margin_px > 0:
            mask = cv2.dilate(mask.astype(np.uint8), np.ones((2 * margin_px + 1,) * 2, np.uint8)).astype(bool)
        return not (mask & self.occupied).any()

    def add_object(
        self,
        polys: Sequence[np.ndarray],
        category: str,
        colour: np.ndarray,
        height_px: float,
        details: Callable[[], None] | None = None,
    ) -> bool:
        """Cast the shadow, fill the object with a shaded colour, record its exact mask."""
        mask = self.raster(polys)
        if mask.sum() < 2:
            return False
        self.shadow(polys, height_px)
        layer = np.zeros(self.hw, np.float32)
        fill_polygons(layer, polys, 1.0, cv2.LINE_AA)
        # Antialiased edge weight, but exactly 1 inside the mask: the labelled pixels are the object's.
        alpha = np.maximum(layer, mask.astype(np.float32))[..., None]
        gradient = fractal_noise(self.hw, self.rng, octaves=3)[..., None] * self.rng.uniform(0, 40) - 20
        fill = np.clip(np.asarray(colour, np.float32) + gradient, 0, 255)
        self.image = self.image * (1 - alpha) + fill * alpha
        if details is not None:
            details()
        for m in self.masks:
            m &= ~mask
        self.masks.append(mask)
        self.classes.append(category)
        self.occupied = mask if self.occupied is None else (self.occupied | mask)
        return True


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def vehicle_colour(rng: np.random.Generator) -> np.ndarray:
    colour = _VEHICLE_COLOURS[int(rng.integers(len(_VEHICLE_COLOURS)))]
    return np.clip(colour + rng.normal(0, 10, 3), 0, 255).astype(np.float32)


def light_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.8:
        return np.full(3, rng.uniform(185, 250), np.float32) + rng.normal(0, 5, 3).astype(np.float32)
    return vehicle_colour(rng)


def ground(canvas: Canvas, palettes: Sequence[str], rasters: Sequence[str | Path], p_raster: float) -> None:
    rng = canvas.rng
    image = raster_crop(canvas.hw, rng, rasters) if rng.random() < p_raster else None
    if image is None:
        image = (
            fields_mosaic(canvas.hw, rng)
            if rng.random() < 0.25
            else procedural(canvas.hw, rng, str(rng.choice(list(palettes))))
        )
    canvas.image = image


def distractor_blobs(canvas: Canvas, count: int) -> None:
    """Unlabelled buildings, trees and marks."""
    rng = canvas.rng
    height, width = canvas.hw
    for _ in range(count):
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        if rng.random() < 0.5:
            size = log_uniform(rng, 4, 60)
            poly = shapes.place(
                [shapes.rect(size, size * rng.uniform(0.4, 1.0))], centre, rng.uniform(0, np.pi)
            )
            if canvas.free(poly, 2):
                canvas.shadow(poly, size * 0.2)
                canvas.paint(poly, rng.uniform(60, 230, 3))
        else:
            r = log_uniform(rng, 2, 10)
            poly = [shapes._ellipse(centre[0], centre[1], r, r * rng.uniform(0.8, 1.0), 12)]
            if canvas.free(poly, 1):
                canvas.shadow(poly, r)
                canvas.paint(poly, (rng.uniform(30, 70), rng.uniform(60, 100), rng.uniform(30, 60)))
