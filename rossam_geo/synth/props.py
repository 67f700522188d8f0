"""Things of metric overhead scenes: vehicles, trees, buildings, poles and stains, drawn on a
:class:`~rossam_geo.synth.overhead.MetricCanvas`.

Sizes are in metres. Vehicles are labelled (their visible outline: top, and the side a leaning view shows);
everything else is unlabelled: trees and buildings occlude what lies under them, and all of them cast
shadows with the scene's sun.
"""

from __future__ import annotations

import cv2
import numpy as np

from rossam_geo.synth import shapes, vehicles
from rossam_geo.synth.overhead import MetricCanvas, coverage, polygons_bbox, swept

#: (length, height) ranges in metres of each vehicle kind.
VEHICLE_SIZE_M: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "car": ((3.7, 5.0), (1.35, 1.7)),
    "pickup": ((5.1, 5.9), (1.75, 1.95)),
    "van": ((4.8, 6.6), (1.9, 2.7)),
    "bus": ((10.0, 13.5), (2.9, 3.4)),
    "truck": ((7.0, 16.5), (3.0, 4.0)),
}
#: Car colours (RGB) and their shares in a fleet: white, black, grey, silver, blue, red, beige, green, yellow.
_CAR_COLOURS = np.array(
    [
        [228, 229, 226],
        [26, 27, 30],
        [104, 106, 110],
        [166, 168, 171],
        [34, 54, 104],
        [138, 26, 28],
        [156, 130, 98],
        [42, 70, 48],
        [212, 164, 36],
    ],
    np.float32,
)
_CAR_SHARES_CUMULATIVE = np.cumsum([0.24, 0.19, 0.17, 0.14, 0.09, 0.08, 0.04, 0.02, 0.03])


def car_colour(
    rng: np.random.Generator, ground_rgb: np.ndarray | None = None, camouflage: float = 0.0
) -> np.ndarray:
    """A vehicle colour drawn from fleet shares, or, with probability ``camouflage``, close to the ground's
    colour (grey cars on grey asphalt).

    Returns:
        (3,) float32 RGB on the 0-255 scale.
    """
    if ground_rgb is not None and rng.random() < camouflage:
        colour = ground_rgb + rng.normal(0.0, 10.0) + rng.normal(0.0, 3.0, 3)
    else:
        index = min(int(np.searchsorted(_CAR_SHARES_CUMULATIVE, rng.random())), len(_CAR_COLOURS) - 1)
        colour = _CAR_COLOURS[index] * rng.uniform(0.85, 1.12)
        colour = colour + rng.normal(0.0, 5.0, 3)
    return np.clip(colour, 0, 255).astype(np.float32)


def draw_vehicle(
    canvas: MetricCanvas,
    kind: str,
    centre_xy: np.ndarray,
    angle_rad: float,
    colour: np.ndarray,
    length_m: float | None = None,
) -> bool:
    """Draw and label one vehicle of ``kind`` (:data:`rossam_geo.synth.vehicles.VEHICLE_KINDS`).

    The footprint is centred on ``centre_xy`` (pixels) heading ``angle_rad``; the top is displaced by the
    view's lean, the side between them is drawn darker, the shadow goes to the shadow map. Vehicles whose
    footprint touches an occupied pixel are not drawn.

    Returns:
        Whether the vehicle was drawn.
    """
    rng = canvas.rng
    lengths, heights = VEHICLE_SIZE_M[kind]
    length_px = canvas.px(length_m if length_m is not None else rng.uniform(*lengths))
    height_m = rng.uniform(*heights)
    body = vehicles.vehicle_body(kind, length_px, rng)
    foot = shapes.place(body.polygons, tuple(centre_xy), angle_rad)
    if not canvas.is_free(foot):
        return False
    lift = canvas.lean_px_per_m * height_m
    top_centre = np.asarray(centre_xy, np.float64) + lift
    top = [p + lift for p in foot]
    outline = swept(foot, lift)
    canvas.cast_shadow(foot, top, height_m)
    if np.hypot(*lift) >= 0.5:
        canvas.paint(outline, colour * rng.uniform(0.45, 0.75))
    canvas.paint(top, colour)
    for poly, detail_colour in vehicles.roof_details(body, colour, rng, clip=False):
        canvas.paint(shapes.place([poly], tuple(top_centre), angle_rad), detail_colour, within=top)
    _shade_across(canvas, top, top_centre, angle_rad, body.width_px)
    canvas.reserve(foot)
    canvas.label(outline, vehicles.VEHICLE_KINDS[kind])
    return True


def _shade_across(
    canvas: MetricCanvas, top: list[np.ndarray], centre: np.ndarray, angle: float, width_px: float
) -> None:
    """Curved-roof shading: darker towards the sides (:func:`rossam_geo.synth.vehicles.across_profile`)."""
    bbox = polygons_bbox(top, canvas.hw)
    if bbox is None:
        return
    r0, r1, c0, c1 = bbox
    rows, cols = np.mgrid[r0:r1, c0:c1]
    across = (-(cols + 0.5 - centre[0]) * np.sin(angle) + (rows + 0.5 - centre[1]) * np.cos(angle)) / (
        max(width_px, 1.0) / 2.0
    )
    factor = vehicles.across_profile(canvas.rng)(np.clip(across, -1.0, 1.0)).astype(np.float32)
    cover = coverage(top, bbox)
    canvas.image[r0:r1, c0:c1] *= (1.0 + (factor - 1.0) * cover)[..., None]


def _circle(centre: np.ndarray, radius: float, n: int = 14) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)], axis=1)


def draw_tree(canvas: MetricCanvas, centre_xy: np.ndarray, radius_m: float, height_m: float) -> None:
    """A tree crown of clumped foliage, lit on the sun's side; it occludes labelled objects under it."""
    rng = canvas.rng
    radius = max(canvas.px(radius_m), 1.0)
    centre = np.asarray(centre_xy, np.float64)
    clumps = [_circle(centre, 0.65 * radius)]
    for _ in range(int(rng.integers(3, 9))):
        clumps.append(_circle(centre + rng.normal(0.0, 0.3 * radius, 2), radius * rng.uniform(0.4, 0.75)))
    lift = canvas.lean_px_per_m * height_m
    crown = [c + lift for c in clumps]
    base_m = height_m * rng.uniform(0.3, 0.6)
    sun = canvas.sun_px_per_m
    shadow = swept([c + sun * base_m for c in clumps], sun * (height_m - base_m))
    canvas.cast_shadow(shadow, crown, 0.0)
    bbox = polygons_bbox(crown, canvas.hw)
    if bbox is None:
        return
    r0, r1, c0, c1 = bbox
    h, w = r1 - r0, c1 - c0
    grid = rng.random((max(2, h // 3), max(2, w // 3))).astype(np.float32)
    texture = cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
    rows, cols = np.mgrid[r0:r1, c0:c1]
    to_sun = -sun / max(float(np.hypot(*sun)), 1e-6)
    lit = ((cols - centre[0] - lift[0]) * to_sun[0] + (rows - centre[1] - lift[1]) * to_sun[1]) / radius
    green = np.array([rng.uniform(30, 75), rng.uniform(55, 105), rng.uniform(25, 60)], np.float32)
    shade = (0.65 + 0.55 * texture + 0.25 * np.clip(lit, -1.0, 1.0))[..., None]
    a = coverage(crown, bbox)[..., None]
    roi = canvas.image[r0:r1, c0:c1]
    roi *= 1.0 - a
    roi += a * np.clip(green * shade, 0, 255)
    canvas.occlude(crown)


def draw_building(
    canvas: MetricCanvas,
    centre_xy: np.ndarray,
    angle_rad: float,
    size_m: tuple[float, float],
    height_m: float,
) -> None:
    """A flat-roofed building: facade on the lean side, parapet, roof units (vehicle-sized bright boxes)."""
    rng = canvas.rng
    length, width = canvas.px(size_m[0]), canvas.px(size_m[1])
    foot = shapes.place([shapes.rect(length, width)], tuple(centre_xy), angle_rad)
    lift = canvas.lean_px_per_m * height_m
    top = [p + lift for p in foot]
    outline = swept(foot, lift)
    canvas.cast_shadow(foot, top, height_m)
    roof = rng.uniform(90, 215) + rng.normal(0, 12, 3)
    canvas.paint(outline, np.clip(roof * rng.uniform(0.5, 0.8), 0, 255))
    canvas.paint(top, np.clip(roof * rng.uniform(0.85, 0.95), 0, 255))
    inner = [
        shapes.place([shapes.rect(length - canvas.px(0.6), width - canvas.px(0.6))], (0.0, 0.0), angle_rad)[0]
    ]
    top_centre = np.asarray(centre_xy, np.float64) + lift
    canvas.paint([inner[0] + top_centre], np.clip(roof, 0, 255))
    for _ in range(int(rng.integers(0, 8))):
        unit = shapes.rect(canvas.px(rng.uniform(1.0, 4.5)), canvas.px(rng.uniform(1.0, 2.5)))
        offset = (rng.uniform(-0.4, 0.4) * length, rng.uniform(-0.4, 0.4) * width)
        placed = shapes.place([unit + offset], tuple(top_centre), angle_rad)
        canvas.cast_shadow(placed, placed, rng.uniform(0.5, 1.8))
        canvas.paint(placed, np.full(3, rng.uniform(120, 250), np.float32))
    canvas.reserve(outline)
    canvas.occlude(outline)


def draw_pole(canvas: MetricCanvas, centre_xy: np.ndarray) -> None:
    """A lamp post: a dot with a long thin shadow."""
    rng = canvas.rng
    foot = [_circle(np.asarray(centre_xy, np.float64), max(canvas.px(0.15), 0.3), 6)]
    height = rng.uniform(6.0, 12.0)
    lift = canvas.lean_px_per_m * height
    canvas.cast_shadow(foot, [f + lift for f in foot], height)
    canvas.paint(swept(foot, lift), np.full(3, rng.uniform(90, 180), np.float32))


def draw_stain(canvas: MetricCanvas, centre_xy: np.ndarray, angle_rad: float) -> None:
    """A dark oil stain of a parked car's size (an unlabelled look-alike)."""
    rng = canvas.rng
    poly = shapes.place(
        [
            _circle(np.zeros(2), 1.0, 16)
            * (canvas.px(rng.uniform(0.8, 1.6)), canvas.px(rng.uniform(0.4, 0.8)))
        ],
        tuple(centre_xy),
        angle_rad,
    )
    canvas.paint(poly, np.full(3, rng.uniform(10, 50), np.float32), alpha=float(rng.uniform(0.08, 0.3)))
