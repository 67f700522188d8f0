"""Seeded synthetic overhead scenes with exact instance masks.

Scene kinds: ``airfield`` (airplanes, terminal, boarding bridges), ``harbour`` (ships at piers and in the
basin), ``sea`` (ships with wakes among waves), ``parking`` (cars and trucks in rows), ``road`` (vehicles
along roads), ``rail`` (trains on tracks), ``sar`` (bright ships on dark speckled sea, grayscale), and at
metric scale ``lot`` and ``street`` (:mod:`rossam_geo.synth.urban`). Ship kinds live in
:mod:`rossam_geo.synth.water`, ``parking`` and ``road`` in :mod:`rossam_geo.synth.roads`.
Pixels are x right, y down; object polygons are filled with OpenCV at 1/16 px precision, so masks are
exact pixel-centre rasterisations of the drawn outlines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rossam_geo.errors import InputError
from rossam_geo.synth import shapes, urban
from rossam_geo.synth.canvas import (
    Canvas,
    distractor_blobs,
    ground,
    light_colour,
    log_uniform,
    vehicle_colour,
)
from rossam_geo.synth.overhead import MetricCanvas
from rossam_geo.synth.roads import parking, road
from rossam_geo.synth.sensor import sensor_v3, sensor_v4
from rossam_geo.synth.water import harbour, sar, sea

SCENE_KINDS: tuple[str, ...] = (
    "airfield",
    "harbour",
    "sea",
    "parking",
    "road",
    "rail",
    "sar",
    "lot",
    "street",
)
#: Scene generators: ``v3`` made the training data of rossam-compact-v3 (kept byte-identical), ``v4`` adds
#: metric parking lots and streets (:mod:`rossam_geo.synth.urban`) and compression / resampling effects.
GENERATORS: tuple[str, ...] = ("v3", "v4")
#: Share of each scene kind drawn by the ``v3`` generator (it never draws ``lot`` or ``street``).
KIND_WEIGHTS: dict[str, float] = {
    "airfield": 0.2,
    "harbour": 0.13,
    "sea": 0.1,
    "parking": 0.17,
    "road": 0.12,
    "rail": 0.1,
    "sar": 0.18,
}
#: Share of each scene kind drawn by the ``v4`` generator: half of all scenes hold road vehicles, all at
#: metric scale (``lot`` with its bus / truck depots replaces ``parking``, ``street`` replaces ``road``).
KIND_WEIGHTS_V4: dict[str, float] = {
    "airfield": 0.13,
    "harbour": 0.08,
    "sea": 0.06,
    "rail": 0.05,
    "sar": 0.18,
    "lot": 0.27,
    "street": 0.23,
}
CATEGORIES: tuple[str, ...] = ("airplane", "ship", "car", "truck", "train")


@dataclass
class SynthScene:
    """One generated scene.

    Attributes:
        image_rgb: (H, W, 3) uint8 RGB (SAR scenes: the gray level in all three bands).
        masks: (N, H, W) bool, one per object, disjoint (later objects occlude earlier ones).
        classes: N category names from :data:`CATEGORIES`.
        kind: scene kind from :data:`SCENE_KINDS`.
    """

    image_rgb: np.ndarray
    masks: np.ndarray
    classes: list[str]
    kind: str

    @property
    def boxes_px_xyxy(self) -> np.ndarray:
        """(N, 4) float64 tight XYXY pixel-edge boxes of the masks."""
        from rossam_geo.train.transforms import masks_to_boxes_xyxy

        return masks_to_boxes_xyxy(self.masks)


def _lines(canvas: Canvas, count: int, colour: Sequence[float], width_px: float) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    for _ in range(count):
        p0 = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(20, 2 * max(height, width))
        poly = shapes.place([shapes.rect(length, width_px)], tuple(p0), angle)
        canvas.paint(poly, colour)


# ------------------------------------------------------------------------------------------ scene kinds
def _airfield(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    ground(canvas, ("tarmac", "concrete", "grass", "dry"), rasters, 0.15)
    _lines(
        canvas, int(rng.integers(0, 6)), rng.choice([[220, 200, 60], [230, 230, 230]]), rng.uniform(0.6, 2)
    )
    length = log_uniform(rng, 8, 170)
    n = int(rng.integers(1, 10))
    base_angle = rng.uniform(0, 2 * np.pi)
    aligned = rng.random() < 0.6
    terminal = None
    if rng.random() < 0.5:
        t_w = rng.uniform(0.15, 0.4) * width
        terminal = shapes.place(
            [shapes.rect(2.5 * width, t_w)], (width / 2, -t_w / 2 + rng.uniform(0, 0.3) * height), 0.0
        )
        canvas.shadow(terminal, 6)
        canvas.paint(terminal, rng.uniform(100, 220, 3))
    for _ in range(n * 3):
        if len(canvas.masks) >= n:
            break
        scale = length * rng.uniform(0.75, 1.25)
        angle = base_angle + (rng.normal(0, 0.1) if aligned else rng.uniform(0, 2 * np.pi))
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        polys = shapes.place(shapes.airplane(scale, rng), centre, angle)
        if not canvas.free(polys, 2):
            continue
        if terminal is not None and rng.random() < 0.5:
            # Boarding bridge: a grey arm from the terminal edge to beside the fuselage.
            nose = np.array(centre) + 0.3 * scale * np.array([np.cos(angle), np.sin(angle)])
            top = terminal[0][:, 1].max()
            arm = np.array(
                [
                    [nose[0] - 0.02 * scale - 1, top],
                    [nose[0] + 0.02 * scale + 1, top],
                    [nose[0] + 0.02 * scale + 1, nose[1]],
                    [nose[0] - 0.02 * scale - 1, nose[1]],
                ]
            )
            if nose[1] > top:
                canvas.shadow([arm], 3)
                canvas.paint([arm], rng.uniform(120, 200, 3))
        colour = light_colour(rng)
        canvas.add_object(
            polys,
            "airplane",
            colour,
            scale * rng.uniform(0.03, 0.12),
            _airplane_livery(canvas, polys, colour),
        )
    distractor_blobs(canvas, int(rng.integers(0, 5)))


def _airplane_livery(canvas: Canvas, polys: list[np.ndarray], colour: np.ndarray) -> Callable[[], None]:
    """Details inside an airplane: wings and pods in other shades, livery on the tail and fuselage.

    ``polys`` are :func:`shapes.airplane`'s parts in its order: fuselage, two wings, two tailplanes, pods.
    """
    rng = canvas.rng

    def details() -> None:
        fuselage, wings, tails, pods = polys[0], polys[1:3], polys[3:5], polys[5:]
        if rng.random() < 0.7:
            canvas.paint(wings, np.clip(colour * rng.uniform(0.7, 0.95), 0, 255))
        if pods:
            canvas.paint(pods, np.full(3, rng.uniform(60, 200)))
        canvas.paint([fuselage], colour)
        if rng.random() < 0.5:
            livery = rng.uniform(20, 230, 3).astype(np.float32)
            canvas.paint(tails, livery)
            if rng.random() < 0.5:
                centre = fuselage.mean(axis=0)
                canvas.paint([centre + (fuselage - centre) * np.array([0.35, 0.35])], livery)

    return details


def _rail(canvas: Canvas, rasters: Sequence[str | Path]) -> None:
    rng = canvas.rng
    height, width = canvas.hw
    ground(canvas, ("grass", "dry", "urban", "soil"), rasters, 0.3)
    angle = rng.uniform(0, np.pi)
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-along[1], along[0]])
    gauge = rng.uniform(3, 12)
    tracks = int(rng.integers(1, 5))
    spacing = gauge * rng.uniform(1.8, 3.0)
    centre = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height])
    big = 3 * max(height, width)
    bed = shapes.place([shapes.rect(big, tracks * spacing + gauge)], tuple(centre), angle)
    canvas.paint(bed, np.array([120, 110, 100], np.float32) + rng.normal(0, 15, 3))
    for k in range(tracks):
        c = centre + across * (k - (tracks - 1) / 2) * spacing
        for side in (-0.4, 0.4):
            rail = shapes.place(
                [shapes.rect(big, max(0.4, gauge * 0.08))], tuple(c + across * side * gauge), angle
            )
            canvas.paint(rail, np.full(3, rng.uniform(150, 210)))
        if rng.random() < 0.7:
            length = log_uniform(rng, 40, 2.5 * max(height, width))
            t = rng.uniform(-0.5, 0.5) * max(height, width)
            polys, bodies = shapes.train(length, rng)
            placed = shapes.place(polys, tuple(c + along * t), angle)
            if not canvas.free(placed, 1):
                continue
            colours = [vehicle_colour(rng) for _ in bodies]
            placed_bodies = shapes.place(bodies, tuple(c + along * t), angle)

            def details(
                placed_bodies: list[np.ndarray] = placed_bodies, colours: list[np.ndarray] = colours
            ) -> None:
                if rng.random() < 0.6:
                    for body, colour in zip(placed_bodies, colours, strict=True):
                        canvas.paint([body], colour)

            canvas.add_object(placed, "train", vehicle_colour(rng), gauge * 0.5, details)
    distractor_blobs(canvas, int(rng.integers(0, 6)))


_KIND_FUNCS: dict[str, Callable[[Canvas, Sequence[str | Path]], None]] = {
    "airfield": _airfield,
    "harbour": harbour,
    "sea": sea,
    "parking": parking,
    "road": road,
    "rail": _rail,
    "sar": sar,
}


_URBAN_FUNCS: dict[str, Callable[[int, np.random.Generator, Sequence[str | Path]], MetricCanvas]] = {
    "lot": urban.lot,
    "street": urban.street,
}


def generate_scene(
    seed: int | Sequence[int] | np.random.Generator,
    size_px: int = 256,
    kind: str | None = None,
    background_rasters: Sequence[str | Path] = (),
    generator: str = "v3",
) -> SynthScene:
    """Generate one scene; the same seed and arguments give the same scene.

    Args:
        seed: an integer (or sequence of integers) seeding numpy's default generator, or a generator.
        size_px: side of the square scene in pixels.
        kind: one of :data:`SCENE_KINDS`; None draws one with the generator's shares (:data:`KIND_WEIGHTS`
            or :data:`KIND_WEIGHTS_V4`).
        background_rasters: paths of permissively licensed rasters whose crops may serve as backgrounds.
        generator: one of :data:`GENERATORS`; ``v4`` also applies :func:`~rossam_geo.synth.sensor.sensor_v4`.

    Returns:
        The :class:`SynthScene` (possibly with zero objects when none fitted; callers skip those).

    Raises:
        InputError: unknown kind or generator, or a size below 32 px.
    """
    if size_px < 32:
        raise InputError(f"size_px must be at least 32, got {size_px}")
    if generator not in GENERATORS:
        raise InputError(f"unknown scene generator {generator!r}; choose one of: {', '.join(GENERATORS)}")
    if kind is not None and kind not in SCENE_KINDS:
        raise InputError(f"unknown scene kind {kind!r}; choose one of: {', '.join(SCENE_KINDS)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if kind is None:
        shares = KIND_WEIGHTS if generator == "v3" else KIND_WEIGHTS_V4
        kinds = list(shares)
        weights = np.array([shares[k] for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    sensor = sensor_v3 if generator == "v3" else sensor_v4
    if kind in _URBAN_FUNCS:
        image, masks, classes = _URBAN_FUNCS[kind](size_px, rng, background_rasters).finish()
        return SynthScene(image_rgb=sensor(image, rng, False), masks=masks, classes=classes, kind=kind)
    sun = rng.uniform(0, 2 * np.pi)
    canvas = Canvas(
        image=np.zeros((size_px, size_px, 3), np.float32),
        rng=rng,
        sun_xy=np.array([np.cos(sun), np.sin(sun)]) * rng.uniform(0.3, 1.5),
    )
    _KIND_FUNCS[kind](canvas, background_rasters)
    image = sensor(canvas.image.astype(np.float32), rng, kind == "sar")
    masks = np.stack(canvas.masks) if canvas.masks else np.zeros((0, size_px, size_px), bool)
    keep = masks.sum(axis=(1, 2)) >= 2
    classes = [c for c, k in zip(canvas.classes, keep, strict=True) if k]
    return SynthScene(image_rgb=image, masks=masks[keep], classes=classes, kind=kind)
