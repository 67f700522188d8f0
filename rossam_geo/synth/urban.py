"""Vehicle scenes at metric scale: parking ``lot`` and ``street`` at 0.08-0.6 m per pixel.

Built to look like real overhead vehicles at 0.1-0.5 m ground sampling: stalls 2.4-2.8 m wide and lanes
3.0-3.7 m wide hold cars 3.7-5.0 m long; vehicle colours follow fleet shares, and in some scenes many cars
take the asphalt's own grey (weak contrast); trees on islands and sidewalks overhang and occlude parked cars,
leaning buses and trucks occlude their neighbours in an off-nadir view, and buildings, trees, poles and
vehicles cast shadows with one sun per scene. Unlabelled look-alikes: oil stains in empty stalls, roof units,
crosswalk bars, lane dashes, pole shadows. Masks are the visible outlines (see
:mod:`rossam_geo.synth.overhead`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rossam_geo.synth.backgrounds import procedural, raster_crop
from rossam_geo.synth.overhead import MetricCanvas, new_canvas
from rossam_geo.synth.props import car_colour, draw_building, draw_pole, draw_stain, draw_tree, draw_vehicle

#: Ground sampling distance range of urban scenes, metres per pixel (drawn log-uniformly).
GSD_RANGE_M: tuple[float, float] = (0.08, 0.6)
#: Share of lots that are depots of buses, trucks or vans.
DEPOT_SHARE = 0.15
#: At most this many vehicles are drawn in one scene.
MAX_VEHICLES = 140


def _asphalt(canvas: MetricCanvas) -> np.ndarray:
    """A tarmac (or, one time in four, concrete) texture from fresh black to weathered light grey."""
    rng = canvas.rng
    texture = procedural(canvas.hw, rng, "tarmac" if rng.random() < 0.75 else "concrete")
    grey = texture.mean(axis=2, keepdims=True)
    texture = grey + (texture - grey) * rng.uniform(0.1, 0.5)  # asphalt is nearly neutral grey
    return np.clip(texture * (rng.uniform(55.0, 190.0) / max(float(texture.mean()), 1.0)), 0, 255)


def _surround(canvas: MetricCanvas, rasters: Sequence[str | Path]) -> np.ndarray:
    """What lies beyond the lot or the street: grass, soil, pavement or a permissive raster crop."""
    rng = canvas.rng
    image = raster_crop(canvas.hw, rng, rasters) if rng.random() < 0.3 else None
    if image is None:
        image = procedural(canvas.hw, rng, str(rng.choice(["grass", "dry", "urban", "concrete", "soil"])))
    return image


def _frame(angle: float) -> tuple[np.ndarray, np.ndarray]:
    along = np.array([np.cos(angle), np.sin(angle)])
    return along, np.array([-along[1], along[0]])


def _band(centre: np.ndarray, angle: float, length_px: float, width_px: float) -> list[np.ndarray]:
    """A rectangle ``length_px`` x ``width_px`` centred on ``centre``, its length along ``angle``."""
    along = np.array([np.cos(angle), np.sin(angle)]) * (length_px / 2.0)
    across = np.array([-np.sin(angle), np.cos(angle)]) * (width_px / 2.0)
    return [
        np.stack(
            [
                centre + along + across,
                centre - along + across,
                centre - along - across,
                centre + along - across,
            ]
        )
    ]


def _scene_angle(rng: np.random.Generator) -> float:
    """Layouts follow the image axes one time in three (many orthophotos are north-up on a street grid)."""
    return float(rng.choice([0.0, np.pi / 2])) if rng.random() < 0.33 else float(rng.uniform(0, np.pi))


def _vehicles(
    canvas: MetricCanvas, slots: list[tuple[np.ndarray, float, str]], ground_rgb: np.ndarray
) -> None:
    """Draw vehicles at (centre px, heading, kind) slots, lower ones first (taller ones lean over them)."""
    rng = canvas.rng
    camouflage = float(rng.choice([0.0, 0.0, 0.3, 0.6]))
    fleet = car_colour(rng) if rng.random() < 0.1 else None
    height, width = canvas.hw
    margin = canvas.px(8.0)
    inside = [
        i
        for i, (c, _, _) in enumerate(slots)
        if -margin < c[0] < width + margin and -margin < c[1] < height + margin
    ]
    inside = [inside[int(k)] for k in rng.permutation(len(inside))]
    order = sorted(inside, key=lambda i: ("car", "pickup", "van", "bus", "truck").index(slots[i][2]))
    for i in order[:MAX_VEHICLES]:
        centre, heading, kind = slots[i]
        colour = (
            fleet if fleet is not None and rng.random() < 0.7 else car_colour(rng, ground_rgb, camouflage)
        )
        draw_vehicle(canvas, kind, centre, heading, colour)


def _kind(rng: np.random.Generator, shares: dict[str, float]) -> str:
    """A vehicle kind drawn with the given shares (summing to 1)."""
    u, total = rng.random(), 0.0
    for kind, share in shares.items():
        total += share
        if u < total:
            return kind
    return kind


def lot(size_px: int, rng: np.random.Generator, rasters: Sequence[str | Path]) -> MetricCanvas:
    """A parking lot: double-loaded bays of perpendicular or angled stalls, islands with trees, poles,
    oil stains, cars parked and driving in the aisles, maybe a building beside it; one lot in
    :data:`DEPOT_SHARE` is a depot of buses, trucks or vans in long stalls."""
    canvas = new_canvas(size_px, rng, GSD_RANGE_M)
    px = canvas.px
    angle = _scene_angle(rng)
    along, across = _frame(angle)
    centre = np.array([size_px / 2, size_px / 2]) + rng.uniform(-0.2, 0.2, 2) * size_px
    extent = np.maximum(
        [px(rng.uniform(20, 90)), px(rng.uniform(20, 90))], rng.uniform(0.5, 1.3, 2) * size_px
    )
    canvas.image = _surround(canvas, rasters)
    asphalt = _asphalt(canvas)
    canvas.paint_texture(_band(centre, angle, *extent), asphalt)
    ground_rgb = asphalt.mean(axis=(0, 1))
    depot = rng.random() < DEPOT_SHARE
    if depot:  # buses, trucks and vans side by side in long bays
        stall_w, depth, aisle = (
            px(rng.uniform(3.2, 4.2)),
            px(rng.uniform(12.0, 18.0)),
            px(rng.uniform(10.0, 16.0)),
        )
        shares = ({"bus": 0.9, "van": 0.1}, {"truck": 0.9, "van": 0.1}, {"van": 1.0})[int(rng.integers(3))]
    else:
        stall_w, depth, aisle = (
            px(rng.uniform(2.4, 2.8)),
            px(rng.uniform(4.8, 5.6)),
            px(rng.uniform(6.0, 7.6)),
        )
        shares = {"car": 0.84, "pickup": 0.08, "van": 0.08}
    tilt = float(rng.choice([np.pi / 4, np.pi / 3])) if rng.random() < 0.2 else np.pi / 2
    island = px(rng.uniform(1.5, 3.0)) if rng.random() < 0.4 else 0.0
    row_depth = depth * np.sin(tilt) + 0.5 * stall_w * abs(np.cos(tilt))
    pitch = stall_w / np.sin(tilt)
    bay = 2 * row_depth + island + aisle
    line_colour = np.array([235, 235, 225] if rng.random() < 0.7 else [225, 190, 60], np.float32)
    lines: list[np.ndarray] = []
    slots: list[tuple[np.ndarray, float, str]] = []
    empty: list[tuple[np.ndarray, float]] = []
    island_strips: list[np.ndarray] = []
    line_w = max(px(rng.uniform(0.1, 0.15)), 0.25)
    occupancy = rng.uniform(0.4, 1.0)
    for k in np.arange(-extent[1] / 2 + row_depth + island / 2, extent[1] / 2 - row_depth, bay):
        bay_centre = centre + across * k
        if island > 0:
            island_strips.append(bay_centre)
        for side in (-1.0, 1.0):
            row = bay_centre + across * side * (island / 2 + row_depth / 2)
            heading = angle + side * tilt
            for j in np.arange(-extent[0] / 2 + pitch / 2, extent[0] / 2 - pitch / 2, pitch):
                stall = row + along * j
                divider = stall + along * pitch / 2
                lines += _band(divider, heading, depth, line_w)
                if rng.random() >= occupancy:
                    empty.append((stall, heading))
                    continue
                kind = _kind(rng, shares)
                jitter = across * rng.normal(0, px(0.25)) * side + along * rng.normal(0, px(0.12))
                flip = np.pi if rng.random() < 0.25 else 0.0
                slots.append((stall + jitter, heading + flip + rng.normal(0, 0.035), kind))
    canvas.paint(lines, line_colour, alpha=float(rng.uniform(0.35, 0.95)))
    grass = procedural(canvas.hw, rng, "grass") if island_strips else None
    for strip in island_strips:
        poly = _band(strip, angle, extent[0], island)
        if grass is not None:
            canvas.paint_texture(poly, grass)
        canvas.reserve(poly)
    for stall, heading in empty:
        if rng.random() < 0.4:
            draw_stain(canvas, stall, heading)
    for _ in range(int(rng.integers(0, 4))):  # cars driving along the aisles
        t = rng.uniform(-0.5, 0.5) * extent[0]
        k = rng.integers(0, max(1, int(extent[1] // bay)))
        pos = centre + along * t + across * (-extent[1] / 2 + (k + 1) * bay - aisle / 2)
        slots.append((pos, angle + (np.pi if rng.random() < 0.5 else 0.0), "car"))
    _vehicles(canvas, slots, ground_rgb)
    for strip in island_strips:
        for t in np.arange(-extent[0] / 2, extent[0] / 2, px(rng.uniform(6, 14))):
            if rng.random() < 0.7:
                spot = strip + along * (t + rng.normal(0, px(1)))
                draw_tree(canvas, spot, rng.uniform(1.8, 5.0), rng.uniform(5.0, 14.0))
    for _ in range(int(rng.integers(0, 6))):
        draw_pole(
            canvas,
            centre + along * rng.uniform(-0.5, 0.5) * extent[0] + across * rng.uniform(-0.5, 0.5) * extent[1],
        )
    _edge_trees(canvas, centre, angle, extent)
    if rng.random() < 0.4:
        side = 1.0 if rng.random() < 0.5 else -1.0
        size = (rng.uniform(15, 70), rng.uniform(10, 40))
        spot = centre + across * side * (extent[1] / 2 + px(size[1]) / 2 + px(rng.uniform(1, 8)))
        draw_building(
            canvas, spot + along * rng.uniform(-0.3, 0.3) * extent[0], angle, size, rng.uniform(4, 25)
        )
    return canvas


def _edge_trees(canvas: MetricCanvas, centre: np.ndarray, angle: float, extent: np.ndarray) -> None:
    """Trees along the lot's long edges, overhanging the outer stalls."""
    rng = canvas.rng
    if rng.random() >= 0.5:
        return
    along, across = _frame(angle)
    for side in (-1.0, 1.0):
        for t in np.arange(-extent[0] / 2, extent[0] / 2, canvas.px(rng.uniform(5, 12))):
            spot = centre + along * t + across * side * (extent[1] / 2 + canvas.px(rng.uniform(-1.0, 2.0)))
            draw_tree(canvas, spot, rng.uniform(2.0, 5.5), rng.uniform(6.0, 16.0))


def street(size_px: int, rng: np.random.Generator, rasters: Sequence[str | Path]) -> MetricCanvas:
    """A street: lanes with traffic (free or queued), parking lanes, sidewalks, markings and crosswalks,
    street trees, buildings or verges along it."""
    canvas = new_canvas(size_px, rng, GSD_RANGE_M)
    px = canvas.px
    angle = _scene_angle(rng)
    along, across = _frame(angle)
    centre = np.array([size_px / 2, size_px / 2]) + across * rng.uniform(-0.25, 0.25) * size_px
    span = 2.0 * size_px
    lanes = int(rng.choice([1, 2, 2, 3, 4, 4, 6]))
    lane_w = px(rng.uniform(3.0, 3.7))
    park_w = px(rng.uniform(2.1, 2.5)) if rng.random() < 0.7 else 0.0
    walk_w = px(rng.uniform(1.5, 4.0))
    road_w = lanes * lane_w + 2 * park_w
    canvas.image = _surround(canvas, rasters)
    asphalt = _asphalt(canvas)
    ground_rgb = asphalt.mean(axis=(0, 1))
    paving = procedural(canvas.hw, rng, "concrete")
    canvas.paint_texture(_band(centre, angle, span, road_w + 2 * walk_w), paving)
    canvas.paint_texture(_band(centre, angle, span, road_w), asphalt)
    marks: list[np.ndarray] = []
    dash, gap = px(3.0), px(rng.choice([6.0, 9.0]))
    for lane in range(1, lanes):
        offset = (lane - lanes / 2) * lane_w
        for t in np.arange(-span / 2, span / 2, dash + gap):
            marks += _band(centre + across * offset + along * t, angle, dash, max(px(0.12), 0.3))
    if rng.random() < 0.4:  # crosswalk: bright bars of about a car's size
        t0 = rng.uniform(-0.3, 0.3) * size_px
        for s in np.arange(-road_w / 2, road_w / 2, px(1.1)):
            marks += _band(centre + along * t0 + across * s, angle + np.pi / 2, px(3.0), px(0.5))
    canvas.paint(marks, np.full(3, rng.uniform(190, 240), np.float32), alpha=float(rng.uniform(0.4, 0.95)))
    slots: list[tuple[np.ndarray, float, str]] = []
    queued = rng.random() < 0.4
    for lane in range(lanes):
        offset = (lane + 0.5 - lanes / 2) * lane_w
        heading = angle if lane >= lanes / 2 or lanes == 1 else angle + np.pi
        t = -span / 2 + rng.uniform(0, px(10))
        while t < span / 2:
            kind = _kind(rng, {"car": 0.8, "pickup": 0.05, "van": 0.06, "bus": 0.04, "truck": 0.05})
            lateral = across * (offset + rng.normal(0, px(0.25)))
            slots.append((centre + lateral + along * t, heading + rng.normal(0, 0.02), kind))
            t += px(rng.uniform(1.0, 4.0) if queued else rng.exponential(15.0) + 6.0) + px(
                16.0 if kind in ("bus", "truck") else 5.0
            )
    for side in (-1.0, 1.0) if park_w > 0 else ():
        offset = side * (road_w / 2 - park_w / 2)
        t = -span / 2
        while t < span / 2:
            if rng.random() < 0.8:
                kind = _kind(rng, {"car": 0.85, "pickup": 0.07, "van": 0.08})
                slots.append(
                    (centre + across * offset + along * t, angle + (0.0 if side > 0 else np.pi), kind)
                )
            t += px(rng.uniform(5.2, 8.0))
    _vehicles(canvas, slots, ground_rgb)
    if rng.random() < 0.65:
        for side in (-1.0, 1.0):
            for t in np.arange(-span / 2, span / 2, px(rng.uniform(7, 15))):
                spot = centre + along * t + across * side * (road_w / 2 + walk_w * rng.uniform(0.2, 0.8))
                draw_tree(canvas, spot, rng.uniform(2.0, 5.0), rng.uniform(6.0, 14.0))
    if rng.random() < 0.6:
        for side in (-1.0, 1.0):
            t = -span / 2
            while t < span / 2:
                size = (rng.uniform(8, 40), rng.uniform(8, 25))
                setback = road_w / 2 + walk_w + px(size[1]) / 2 + px(rng.uniform(0.5, 6))
                spot = centre + across * side * setback + along * (t + px(size[0]) / 2)
                draw_building(canvas, spot, angle, size, rng.uniform(4, 30))
                t += px(size[0] + rng.uniform(1, 12))
    return canvas
