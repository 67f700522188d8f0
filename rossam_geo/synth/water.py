"""Ship scene kinds: ``harbour`` (ships at piers and in the basin), ``sea`` (ships with wakes among waves)
and ``sar`` (bright ships on dark speckled sea, grayscale)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rossam_geo.synth import shapes
from rossam_geo.synth.backgrounds import fractal_noise, procedural, speckle
from rossam_geo.synth.canvas import Canvas, light_colour, log_uniform, vehicle_colour


def draw_wake(canvas: Canvas, centre: tuple[float, float], angle: float, length: float, beam: float) -> None:
    rng = canvas.rng
    direction = np.array([np.cos(angle), np.sin(angle)])
    stern = np.array(centre) - direction * length / 2
    wake_len = length * rng.uniform(0.5, 3.0)
    spread = rng.uniform(0.15, 0.4)
    for sign in (-1, 1):
        tip_dir = np.array([np.cos(angle + np.pi + sign * spread), np.sin(angle + np.pi + sign * spread)])
        tip = stern + tip_dir * wake_len
        side = np.array([-direction[1], direction[0]]) * sign * beam * 0.4
        poly = np.array([stern + side, tip + side * 2, tip + side * 3, stern + side * 1.4])
        canvas.paint([poly], np.full(3, rng.uniform(150, 230)) * 0.6 + canvas.image.mean((0, 1)) * 0.4)
    turb = np.array([stern, stern - direction * wake_len * 0.6])
    canvas.paint(
        [shapes.place([shapes.rect(wake_len * 0.6, beam * 0.7)], tuple(turb.mean(0)), angle)[0]],
        np.full(3, rng.uniform(120, 200)),
    )


def draw_waves(canvas: Canvas, count: int) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    angle = rng.uniform(0, np.pi)
    for _ in range(count):
        length = log_uniform(rng, 2, 14)
        poly = shapes.place(
            [shapes.rect(length, rng.uniform(0.6, 1.6))],
            (rng.uniform(0, width), rng.uniform(0, height)),
            angle + rng.normal(0, 0.2),
        )
        canvas.paint(poly, np.full(3, rng.uniform(120, 230)))


def ship_object(canvas: Canvas, centre: tuple[float, float], angle: float, length: float, wake: bool) -> bool:
    rng = canvas.rng
    local = shapes.ship(length, rng)
    polys = shapes.place(local, centre, angle)
    if not canvas.free(polys, 2):
        return False
    beam = float(np.ptp(local[0][:, 1]))
    if wake:
        draw_wake(canvas, centre, angle, length, beam)

    def details() -> None:
        if length < 12:
            return
        for _ in range(int(rng.integers(1, 4))):
            sx = rng.uniform(-0.35, 0.2) * length
            sup = shapes.place(
                [shapes.rect(length * rng.uniform(0.08, 0.25), beam * rng.uniform(0.4, 0.75)) + [sx, 0]],
                centre,
                angle,
            )
            canvas.paint(sup, rng.uniform(40, 250, 3))

    colour = vehicle_colour(rng) if rng.random() < 0.6 else light_colour(rng)
    return canvas.add_object(polys, "ship", colour, length * rng.uniform(0.02, 0.08), details)


def harbour(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    canvas.image = procedural(canvas.hw, rng, str(rng.choice(["water", "green_water"])))
    land = procedural(canvas.hw, rng, str(rng.choice(["concrete", "urban", "tarmac"])))
    coast = rng.uniform(0.1, 0.4) * height
    yy = np.mgrid[0:height, 0:width][0]
    land_mask = yy < coast + 6 * fractal_noise(canvas.hw, rng, 2)
    canvas.image[land_mask] = land[land_mask]
    length = log_uniform(rng, 8, 200)
    pier_w = rng.uniform(3, 14)
    piers = []
    for x in np.arange(rng.uniform(0, width / 3), width, max(length * rng.uniform(0.4, 1.3), 2 * pier_w + 8)):
        pier_len = rng.uniform(0.3, 0.9) * height
        poly = np.array([[x, 0], [x + pier_w, 0], [x + pier_w, coast + pier_len], [x, coast + pier_len]])
        canvas.paint([poly], land.mean((0, 1)) + rng.normal(0, 10, 3))
        piers.append((x, pier_w, coast + pier_len))
    canvas.occupied = canvas.raster([np.array([[0, 0], [width, 0], [width, coast], [0, coast]])])
    for x, w, end in piers:
        canvas.occupied |= canvas.raster([np.array([[x, 0], [x + w, 0], [x + w, end], [x, end]])])
    for _ in range(int(rng.integers(1, 10)) * 3):
        if len(canvas.masks) >= 10:
            break
        scale = length * rng.uniform(0.6, 1.3)
        if piers and rng.random() < 0.7:
            x, w, end = piers[int(rng.integers(len(piers)))]
            side = 1 if rng.random() < 0.5 else -1
            beam = scale * 0.2
            cx = x + w / 2 + side * (w / 2 + beam / 2 + rng.uniform(0.5, 2))
            cy = rng.uniform(coast + scale / 2, max(coast + scale / 2 + 1, end))
            angle = np.pi / 2 * (1 if rng.random() < 0.5 else -1) + rng.normal(0, 0.02)
            ship_object(canvas, (cx, cy), angle, scale, False)
        else:
            centre = (rng.uniform(0, width), rng.uniform(coast, height))
            ship_object(canvas, centre, rng.uniform(0, 2 * np.pi), scale, rng.random() < 0.5)
    canvas.occupied = None if not canvas.masks else np.any(canvas.masks, axis=0)


def sea(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    canvas.image = procedural(canvas.hw, rng, str(rng.choice(["water", "green_water"])))
    draw_waves(canvas, int(rng.integers(0, 80)))
    n = int(rng.integers(1, 7))
    for _ in range(n * 3):
        if len(canvas.masks) >= n:
            break
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        ship_object(canvas, centre, rng.uniform(0, 2 * np.pi), log_uniform(rng, 5, 160), rng.random() < 0.7)


def sar(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    """Grayscale SAR-like scene: dark sea, optional bright land, bright ships, all with speckle."""
    rng = canvas.rng
    height, width = canvas.hw
    looks = float(rng.uniform(1.0, 5.0))
    sea_level = rng.uniform(10, 60)
    gray = np.full(canvas.hw, sea_level, np.float32) * (0.7 + 0.6 * fractal_noise(canvas.hw, rng, 3))
    if rng.random() < 0.35:
        yy, xx = np.mgrid[0:height, 0:width]
        angle = rng.uniform(0, 2 * np.pi)
        d = (xx - width / 2) * np.cos(angle) + (yy - height / 2) * np.sin(angle)
        land = d > rng.uniform(0.2, 0.5) * max(height, width) + 15 * fractal_noise(canvas.hw, rng, 3)
        gray[land] = (rng.uniform(60, 140) * (0.5 + fractal_noise(canvas.hw, rng, 5)))[land]
        canvas.occupied = cv2.dilate(land.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    canvas.image = np.repeat(gray[..., None], 3, axis=2)
    n = int(rng.integers(1, 12))
    size_hi = 40.0 if rng.random() < 0.7 else 160.0
    for _ in range(n * 3):
        if len(canvas.masks) >= n:
            break
        length = log_uniform(rng, 4, size_hi)
        local = shapes.ship(length, rng)
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        polys = shapes.place(local, centre, rng.uniform(0, 2 * np.pi))
        if not canvas.free(polys, 2):
            continue
        canvas.sun_xy = np.zeros(2)
        canvas.add_object(polys, "ship", np.full(3, rng.uniform(120, 255), np.float32), 0.0)
        if rng.random() < 0.3:  # faint azimuth sidelobe streak through the ship (not part of it)
            streak = shapes.place(
                [shapes.rect(length * rng.uniform(1.5, 4), 0.8)], centre, rng.choice([0, np.pi / 2])
            )
            canvas.paint(streak, np.full(3, rng.uniform(60, 140)))
    canvas.image = canvas.image * speckle(canvas.hw, rng, looks)[..., None]
