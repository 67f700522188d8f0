"""Outlines of synthetic objects in a local frame: metres-free, in pixels, nose / bow along +x, centred at 0.

Every function returns a list of polygons (each an (K, 2) float64 array of x, y pixel coordinates); the
object is the union of its polygons. :func:`place` rotates and moves them into a scene.
"""

from __future__ import annotations

import numpy as np

Polygon = np.ndarray


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> Polygon:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _mirror_y(poly: Polygon) -> Polygon:
    return poly[::-1] * np.array([1.0, -1.0])


def airplane(length_px: float, rng: np.random.Generator) -> list[Polygon]:
    """Fuselage, swept wings, tailplane and engine pods of an airplane ``length_px`` long.

    Wing span, sweep, chord and fuselage width vary (airliners, fighters, light aircraft).
    """
    half = length_px / 2.0
    fus_w = length_px * rng.uniform(0.07, 0.13)
    span = length_px * rng.uniform(0.7, 1.25)
    sweep = length_px * rng.uniform(0.0, 0.35)
    root = length_px * rng.uniform(0.14, 0.32)
    tip = root * rng.uniform(0.15, 0.5)
    wing_le = half * rng.uniform(0.05, 0.4)
    polys: list[Polygon] = [_ellipse(0.0, 0.0, half, fus_w / 2.0, 32)]
    wing = np.array(
        [
            [wing_le, 0.0],
            [wing_le - sweep, span / 2.0],
            [wing_le - sweep - tip, span / 2.0],
            [wing_le - root, 0.0],
        ]
    )
    polys += [wing, _mirror_y(wing)]
    tail_span = span * rng.uniform(0.25, 0.45)
    tail_root = root * rng.uniform(0.4, 0.7)
    tail_le = -half * rng.uniform(0.6, 0.8)
    tail_sweep = tail_span * rng.uniform(0.1, 0.5) / 2.0
    tail = np.array(
        [
            [tail_le, 0.0],
            [tail_le - tail_sweep, tail_span / 2.0],
            [tail_le - tail_sweep - tail_root * 0.4, tail_span / 2.0],
            [tail_le - tail_root, 0.0],
        ]
    )
    polys += [tail, _mirror_y(tail)]
    if rng.random() < 0.6 and length_px > 20:
        for frac in rng.choice([0.35, 0.6], size=int(rng.integers(1, 3)), replace=False):
            y = fus_w / 2.0 + frac * (span / 2.0 - fus_w / 2.0)
            x = wing_le - sweep * frac + length_px * 0.03
            pod = _ellipse(x, y, length_px * 0.06, fus_w * 0.3, 12)
            polys += [pod, _mirror_y(pod)]
    return polys


def ship(length_px: float, rng: np.random.Generator) -> list[Polygon]:
    """A hull with a pointed bow (+x) and a square or rounded stern."""
    beam = length_px * rng.uniform(0.1, 0.24)
    half = length_px / 2.0
    bow = length_px * rng.uniform(0.12, 0.3)
    xs = np.linspace(half - bow, half, 8)
    taper = np.sqrt(np.clip(1.0 - ((xs - (half - bow)) / bow) ** 2, 0.0, 1.0)) * beam / 2.0
    taper[-1] = 0.0
    top = np.stack([xs, taper], axis=1)
    flip = np.array([1.0, -1.0])
    stern_r = beam / 2.0 * rng.uniform(0.0, 1.0)
    if stern_r > 0.5:
        t = np.linspace(1.5 * np.pi, 0.5 * np.pi, 9)
        stern = np.stack([-half + stern_r + stern_r * np.cos(t), beam / 2.0 * np.sin(t)], axis=1)
    else:
        stern = np.array([[-half, -beam / 2.0], [-half, beam / 2.0]])
    hull = np.concatenate([top, top[::-1][1:] * flip, stern])
    return [hull]


def car(length_px: float, rng: np.random.Generator) -> list[Polygon]:
    """A rounded rectangle of car proportions."""
    width = length_px * rng.uniform(0.4, 0.5)
    r = min(width, length_px) * rng.uniform(0.1, 0.3)
    return [rounded_rect(length_px, width, r)]


def truck(length_px: float, rng: np.random.Generator) -> list[Polygon]:
    """A cab and a trailer (touching, one object)."""
    width = length_px * rng.uniform(0.18, 0.3)
    cab = length_px * rng.uniform(0.15, 0.25)
    trailer = rounded_rect(length_px - cab, width, width * 0.05) - np.array([cab / 2.0, 0.0])
    cab_poly = rounded_rect(cab * 1.05, width * rng.uniform(0.85, 1.0), width * 0.2) + np.array(
        [(length_px - cab) / 2.0, 0.0]
    )
    return [trailer, cab_poly]


def train(length_px: float, rng: np.random.Generator) -> tuple[list[Polygon], list[Polygon]]:
    """A chain of cars along +x with narrow couplings.

    Returns:
        (the object's polygons, the individual car bodies for shading).
    """
    n_cars = int(np.clip(round(length_px / rng.uniform(15.0, 40.0)), 2, 14))
    car_len = length_px / n_cars
    width = min(car_len * rng.uniform(0.18, 0.35), length_px * 0.08) + 1.5
    gap = max(0.5, car_len * 0.04)
    bodies: list[Polygon] = []
    for i in range(n_cars):
        x0 = -length_px / 2.0 + i * car_len + gap / 2.0
        body = rounded_rect(car_len - gap, width, width * 0.1) + np.array([x0 + (car_len - gap) / 2.0, 0.0])
        bodies.append(body)
    coupling = np.array(
        [[-length_px / 2.0, width * 0.15], [length_px / 2.0, width * 0.15], [length_px / 2.0, -width * 0.15]]
    )
    coupling = np.concatenate([coupling, [[-length_px / 2.0, -width * 0.15]]])
    return bodies + [coupling], bodies


#: Unit-circle points of the four rounded corners (5 per quarter, counter-clockwise from +x), (20, 2).
_CORNER_COS_SIN = np.concatenate(
    [
        np.stack([np.cos(t), np.sin(t)], axis=1)
        for t in (np.linspace(a0 * np.pi, (a0 + 0.5) * np.pi, 5) for a0 in (0.0, 0.5, 1.0, 1.5))
    ]
)
#: Signs of each corner centre (x, y) for the 20 corner points.
_CORNER_SIGNS = np.repeat(np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]]), 5, axis=0)


def rounded_rect(length: float, width: float, radius: float) -> Polygon:
    """Rectangle ``length`` x ``width`` centred at 0 (x along ``length``) with corners of ``radius``."""
    radius = float(min(radius, length / 2.0, width / 2.0))
    half = np.array([length / 2.0 - radius, width / 2.0 - radius])
    return _CORNER_SIGNS * half + radius * _CORNER_COS_SIN


def rect(length: float, width: float) -> Polygon:
    """Axis-aligned rectangle centred at 0 (x along ``length``)."""
    return rounded_rect(length, width, 0.0)


def place(polys: list[Polygon], centre_xy: tuple[float, float], angle_rad: float) -> list[Polygon]:
    """Rotate polygons by ``angle_rad`` (counter-clockwise in x-right, y-down pixels) and move them."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    rot = np.array([[c, -s], [s, c]])
    return [p @ rot.T + np.asarray(centre_xy, dtype=np.float64) for p in polys]
