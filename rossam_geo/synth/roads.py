"""Vehicle scene kinds of the first generator: ``parking`` (rows of parked vehicles) and ``road``.

Sizes are in pixels without a ground sampling distance; :mod:`rossam_geo.synth.urban` draws lots and streets
at metric scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rossam_geo.synth import shapes, vehicles
from rossam_geo.synth.canvas import (
    Canvas,
    distractor_blobs,
    ground,
    light_colour,
    log_uniform,
    vehicle_colour,
)


def add_vehicle(
    canvas: Canvas,
    centre: tuple[float, float],
    angle: float,
    length: float,
    kind: str,
    colour: np.ndarray | None = None,
    margin_px: int | None = None,
) -> bool:
    """Add one road vehicle (:mod:`rossam_geo.synth.vehicles`): body, roof details, curved-roof shading."""
    rng = canvas.rng
    body = vehicles.vehicle_body(kind, length, rng)
    polys = shapes.place(body.polygons, centre, angle)
    if not canvas.free(polys, (1 if length > 6 else 0) if margin_px is None else margin_px):
        return False
    if colour is None:
        colour = vehicle_colour(rng) if kind == "car" or rng.random() < 0.5 else light_colour(rng)
    profile = vehicles.across_profile(rng)

    def details() -> None:
        for poly, detail_colour in vehicles.roof_details(body, colour, rng):
            canvas.paint(shapes.place([poly], centre, angle), detail_colour)
        rows, cols = np.nonzero(canvas.raster(polys))
        across = (-(cols + 0.5 - centre[0]) * np.sin(angle) + (rows + 0.5 - centre[1]) * np.cos(angle)) / (
            body.width_px / 2.0
        )
        factor = profile(np.clip(across, -1.0, 1.0)).astype(np.float32)
        canvas.image[rows, cols] = np.clip(canvas.image[rows, cols] * factor[:, None], 0, 255)

    height = length * rng.uniform(0.08, 0.2) if kind == "car" else body.width_px * rng.uniform(0.4, 0.9)
    return canvas.add_object(polys, vehicles.VEHICLE_KINDS[kind], colour, height, details)


def vehicle_kind(rng: np.random.Generator, p_large: float) -> str:
    if rng.random() >= p_large:
        return "car"
    return str(rng.choice(["van", "bus", "truck"], p=[0.4, 0.3, 0.3]))


def parking(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    """Rows of parked vehicles: loose or packed side by side, mixed colours or one fleet colour."""
    rng = canvas.rng
    height, width = canvas.hw
    ground(canvas, ("tarmac", "concrete", "urban"), rasters, 0.15)
    lot_kind = rng.random()
    # A car lot, a mixed lot, or a depot of buses / vans / trucks that may fill most of the scene.
    kind_of_lot = (
        "car" if lot_kind < 0.5 else ("mixed" if lot_kind < 0.7 else str(rng.choice(["bus", "van", "truck"])))
    )
    car_lot = kind_of_lot in ("car", "mixed")
    length = log_uniform(rng, 5, 60) if car_lot else log_uniform(rng, 12, 150)
    angle = rng.uniform(0, np.pi)
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-along[1], along[0]])
    packed = rng.random() < 0.45
    fleet = vehicle_colour(rng) if rng.random() < 0.35 else None
    if not car_lot:
        width_ratio = {"bus": 0.27, "van": 0.43, "truck": 0.26}[kind_of_lot]
        pitch = length * width_ratio + (rng.uniform(0.5, 3.0) if packed else length * rng.uniform(0.05, 0.25))
    else:
        pitch = length * (0.5 + rng.uniform(0.02, 0.08) if packed else rng.uniform(0.55, 0.8))
    row_gap = length * (rng.uniform(1.1, 2.5) if car_lot else rng.uniform(1.05, 1.6))
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.3, 0.3, 2) * length
    line_colour = np.full(3, rng.uniform(180, 240))
    span = int(max(height, width) / min(pitch, row_gap)) + 2
    fill = rng.uniform(0.4, 0.98)
    slots = []
    for r in range(-span // 2, span // 2 + 1):
        for k in range(-span, span + 1):
            c = centre + along * r * row_gap + across * k * pitch
            if -length < c[0] < width + length and -length < c[1] < height + length:
                slots.append(c)
    # Visit the slots in random order so that the object cap does not fill one corner only.
    for index in rng.permutation(len(slots)):
        c = slots[int(index)]
        if not packed and rng.random() < 0.5 and length > 6:
            mark = shapes.place([shapes.rect(length * 1.1, 0.6)], tuple(c + across * pitch / 2), angle)
            canvas.paint(mark, line_colour)
        if rng.random() < fill and len(canvas.masks) < 40:
            flip = np.pi if rng.random() < 0.5 else 0.0
            jitter = rng.normal(0, 0.03 * length, 2) * (0.3 if packed else 1.0)
            kind = kind_of_lot if kind_of_lot != "mixed" else vehicle_kind(rng, 0.3)
            scale = length if kind_of_lot != "mixed" else length * rng.uniform(*vehicles.LENGTH_FACTOR[kind])
            colour = (
                None if fleet is None else np.clip(fleet + rng.normal(0, 4, 3), 0, 255).astype(np.float32)
            )
            add_vehicle(
                canvas,
                tuple(c + jitter),
                angle + flip + rng.normal(0, 0.02 if packed else 0.04),
                scale * rng.uniform(0.95, 1.05),
                kind,
                colour,
                margin_px=0 if packed else None,
            )
    distractor_blobs(canvas, int(rng.integers(0, 6)))


def road(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    ground(canvas, ("grass", "dry", "urban", "soil"), rasters, 0.3)
    distractor_blobs(canvas, int(rng.integers(0, 8)))
    canvas.occupied = None
    length = log_uniform(rng, 5, 60)
    for _ in range(int(rng.integers(1, 3))):
        angle = rng.uniform(0, np.pi)
        lanes = int(rng.integers(1, 5))
        lane_w = length * rng.uniform(0.55, 0.8)
        centre = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height])
        road = shapes.place([shapes.rect(3 * max(height, width), lanes * lane_w + 2)], tuple(centre), angle)
        canvas.paint(road, np.full(3, rng.uniform(50, 130)) + rng.normal(0, 5, 3))
        along = np.array([np.cos(angle), np.sin(angle)])
        across = np.array([-along[1], along[0]])
        for lane in range(lanes):
            offset = (lane - (lanes - 1) / 2) * lane_w
            if lane > 0:
                mark = shapes.place(
                    [shapes.rect(3 * max(height, width), 0.5)],
                    tuple(centre + across * (offset - lane_w / 2)),
                    angle,
                )
                canvas.paint(mark, np.full(3, 220.0))
            t = float(-max(height, width))
            while t < max(height, width):
                t += length * rng.uniform(1.3, 6.0)
                kind = vehicle_kind(rng, 0.2)
                heading = angle if lane >= lanes / 2 else angle + np.pi
                add_vehicle(
                    canvas,
                    tuple(centre + along * t + across * offset),
                    heading + rng.normal(0, 0.03),
                    length * rng.uniform(*vehicles.LENGTH_FACTOR[kind]),
                    kind,
                )
