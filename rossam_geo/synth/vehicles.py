"""Road vehicles seen from above: body outlines and the roof details drawn inside them.

Real vehicles are nearly rectangular and fill their oriented box; what varies is the roof: windscreens and
rear windows, sunroofs, air-conditioning units and hatches on buses, ribbed or plain trailer roofs, racks,
stripes and logos, and the shading of a curved roof (darker towards the sides). All of that lies inside the
labelled outline, so a model trained on these scenes learns that the interior texture belongs to the object.

Lengths are in pixels, the local frame has the front along +x and is centred on the vehicle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from rossam_geo.synth import shapes

#: Vehicle kinds with their COCO category.
VEHICLE_KINDS: dict[str, str] = {
    "car": "car",
    "pickup": "car",
    "van": "truck",
    "bus": "truck",
    "truck": "truck",
}
#: Width as a fraction of length (min, max) per kind.
_WIDTH_RATIO: dict[str, tuple[float, float]] = {
    "car": (0.4, 0.52),
    "pickup": (0.33, 0.38),
    "van": (0.36, 0.45),
    "bus": (0.2, 0.3),
    "truck": (0.17, 0.3),
}
#: Typical length of each kind relative to a car of the same scene.
LENGTH_FACTOR: dict[str, tuple[float, float]] = {
    "car": (0.85, 1.15),
    "pickup": (1.1, 1.3),
    "van": (1.1, 1.4),
    "bus": (2.2, 3.0),
    "truck": (1.6, 3.2),
}


@dataclass(frozen=True)
class VehicleBody:
    """A vehicle's outline in its local frame.

    Attributes:
        kind: one of :data:`VEHICLE_KINDS`.
        polygons: the outline (one or two polygons: trucks have a cab and a trailer).
        length_px: along +x.
        width_px: across.
        cab_px: length of a truck's cab (0 for other kinds).
    """

    kind: str
    polygons: list[np.ndarray]
    length_px: float
    width_px: float
    cab_px: float


def vehicle_body(kind: str, length_px: float, rng: np.random.Generator) -> VehicleBody:
    """Outline of a vehicle of ``kind``, ``length_px`` long, with slightly rounded corners."""
    lo, hi = _WIDTH_RATIO[kind]
    width = max(length_px * rng.uniform(lo, hi), 1.5)
    if kind == "truck":
        cab = length_px * rng.uniform(0.14, 0.24)
        gap = rng.uniform(0.0, 0.04) * length_px if rng.random() < 0.5 else 0.0
        trailer_len = length_px - cab - gap
        trailer = shapes.rounded_rect(trailer_len, width, width * rng.uniform(0.0, 0.08))
        trailer = trailer - np.array([(length_px - trailer_len) / 2.0, 0.0])
        cab_w = width * rng.uniform(0.85, 1.0)
        cab_poly = shapes.rounded_rect(cab, cab_w, cab_w * rng.uniform(0.1, 0.3))
        cab_poly = cab_poly + np.array([(length_px - cab) / 2.0, 0.0])
        polys = [trailer, cab_poly]
        if gap > 0:  # the coupling under the gap keeps the truck one connected object
            polys.append(shapes.rect(gap + 2.0, width * 0.3) + np.array([length_px / 2 - cab - gap / 2, 0.0]))
        return VehicleBody(kind, polys, length_px, width, cab)
    corner = {"car": (0.15, 0.4), "pickup": (0.1, 0.25), "van": (0.1, 0.25), "bus": (0.05, 0.15)}[kind]
    radius = width * rng.uniform(*corner)
    return VehicleBody(kind, [shapes.rounded_rect(length_px, width, radius)], length_px, width, 0.0)


def _band(x0: float, x1: float, width: float, taper: float = 0.0) -> np.ndarray:
    """A band across the vehicle from x0 to x1 (local), ``width`` wide at x0, narrowed by ``taper`` at x1."""
    w0, w1 = width / 2.0, width / 2.0 * (1.0 - taper)
    return np.array([[x0, -w0], [x1, -w1], [x1, w1], [x0, w0]])


def roof_details(
    body: VehicleBody, colour: np.ndarray, rng: np.random.Generator, clip: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Details drawn over the body, in the local frame: a list of (polygon, RGB colour).

    With ``clip`` every polygon is cut to the body outline; without, callers must mask the details to the
    body themselves (faster).

    Returns nothing for vehicles under 7 px: at that size only the body colour is visible.
    """
    length, width = body.length_px, body.width_px
    half = length / 2.0
    if length < 7:
        return []
    glass = np.full(3, rng.uniform(10, 70), np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    shade = float(rng.uniform(0.75, 1.2))
    roof_colour = np.clip(colour * shade, 0, 255)
    details: list[tuple[np.ndarray, np.ndarray]] = []
    if body.kind == "car":
        ws0 = half - length * rng.uniform(0.22, 0.32)
        ws1 = ws0 + length * rng.uniform(0.1, 0.16)
        details.append((_band(ws0, ws1, width * 0.86, rng.uniform(0.0, 0.2)), glass))
        rw1 = -half + length * rng.uniform(0.12, 0.2)
        rw0 = rw1 + length * rng.uniform(0.07, 0.12)
        if rng.random() < 0.85:
            details.append((_band(rw0, rw1, width * 0.84, rng.uniform(0.0, 0.2)), glass))
        details.append((shapes.rect(max(ws0 - rw0, 1.0), width * 0.8) + [(ws0 + rw0) / 2, 0.0], roof_colour))
        if rng.random() < 0.25:
            details.append((shapes.rect(length * 0.14, width * 0.45) + [(ws0 + rw0) / 2, 0.0], glass))
    elif body.kind == "pickup":  # cab with windscreen and rear window, open load bed behind
        ws0 = half - length * rng.uniform(0.3, 0.36)
        ws1 = ws0 + length * rng.uniform(0.08, 0.12)
        details.append((_band(ws0, ws1, width * 0.86, rng.uniform(0.0, 0.15)), glass))
        cab_rear = ws0 - length * rng.uniform(0.14, 0.2)
        details.append((shapes.rect(ws0 - cab_rear, width * 0.82) + [(ws0 + cab_rear) / 2, 0.0], roof_colour))
        details.append((_band(cab_rear, cab_rear + length * 0.04, width * 0.8), glass))
        bed0, bed1 = -half + length * 0.04, cab_rear - length * 0.03
        liner = np.clip(colour * rng.uniform(0.35, 0.7), 0, 255) if rng.random() < 0.6 else glass * 0.8
        details.append((shapes.rect(bed1 - bed0, width * 0.8) + [(bed0 + bed1) / 2, 0.0], liner))
    elif body.kind == "van":
        ws1 = half - length * rng.uniform(0.08, 0.15)
        details.append((_band(ws1 + length * 0.08, ws1, width * 0.88, 0.0), glass))
        details.append((shapes.rect(length * 0.6, width * 0.82) + [-length * 0.12, 0.0], roof_colour))
        if rng.random() < 0.4:
            for k in range(int(rng.integers(2, 5))):
                x = -half * 0.7 + k * length * 0.15
                details.append((shapes.rect(0.8, width * 0.8) + [x, 0.0], np.clip(colour * 0.6, 0, 255)))
    elif body.kind == "bus":
        details.append((_band(half - length * 0.035, half - length * 0.005, width * 0.9), glass))
        if rng.random() < 0.5:  # a roof of another shade, framed by the body colour
            details.append((shapes.rect(length * 0.9, width * 0.7), roof_colour))
        for _ in range(int(rng.integers(0, 5))):
            size = width * rng.uniform(0.25, 0.6)
            unit_len = min(size * rng.uniform(0.8, 2.2), length * 0.3)
            x = rng.uniform(-half + unit_len / 2 + 0.02 * length, half - unit_len / 2 - 0.05 * length)
            unit = np.full(3, rng.uniform(150, 245), np.float32)
            details.append((shapes.rect(unit_len, size) + [x, 0.0], unit))
        if rng.random() < 0.3:
            stripe = np.clip(colour * rng.uniform(0.3, 0.7), 0, 255)
            details.append((shapes.rect(length * 0.95, width * 0.12) + [0.0, width * 0.3], stripe))
    else:  # truck
        cab_x = half - body.cab_px / 2.0
        details.append((_band(half - body.cab_px * 0.35, half - body.cab_px * 0.1, width * 0.8), glass))
        trailer_len = length - body.cab_px
        trailer_x = -half + trailer_len / 2.0
        trailer_colour = (
            np.full(3, rng.uniform(120, 250), np.float32)
            if rng.random() < 0.6
            else np.clip(colour * shade, 0, 255)
        )
        details.append((shapes.rect(trailer_len * 0.98, width * 0.98) + [trailer_x, 0.0], trailer_colour))
        if rng.random() < 0.5:  # ribbed roof
            ribs = int(np.clip(trailer_len / rng.uniform(2.5, 6.0), 2, 40))
            rib_colour = np.clip(trailer_colour * rng.uniform(0.7, 0.9), 0, 255)
            for k in range(ribs):
                x = -half + (k + 0.5) * trailer_len / ribs
                details.append(
                    (shapes.rect(max(0.5, trailer_len / ribs * 0.25), width * 0.95) + [x, 0.0], rib_colour)
                )
        if rng.random() < 0.2:
            logo = rng.uniform(20, 240, 3).astype(np.float32)
            details.append((shapes.rect(trailer_len * 0.4, width * 0.6) + [trailer_x, 0.0], logo))
        details.append(
            (shapes.rect(body.cab_px * 0.4, width * 0.7) + [cab_x - body.cab_px * 0.15, 0.0], roof_colour)
        )
    return _clip_to_outline(details, body.polygons) if clip else details


def _clip_to_outline(
    details: list[tuple[np.ndarray, np.ndarray]], outline_polys: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut every detail to the body outline, so that no painted pixel falls outside the labelled mask."""
    outline = shapely.union_all([shapely.Polygon(p) for p in outline_polys])
    clipped = []
    for poly, colour in details:
        part = shapely.Polygon(poly).intersection(outline)
        pieces = [g for g in getattr(part, "geoms", [part]) if g.geom_type == "Polygon" and g.area > 0]
        for piece in pieces:
            clipped.append((np.asarray(piece.exterior.coords)[:-1], colour))
    return clipped


def across_profile(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Brightness factor of a curved roof as a function of the signed distance across it (-1 .. 1)."""
    edge = float(rng.uniform(0.0, 0.4))
    tilt = float(rng.uniform(-0.15, 0.15))
    power = float(rng.uniform(2.0, 6.0))

    def profile(v: np.ndarray) -> np.ndarray:
        return 1.0 - edge * np.abs(v) ** power + tilt * v

    return profile
