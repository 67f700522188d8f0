"""A metric drawing canvas for overhead scenes: sizes in metres, one sun and one view direction per scene.

Scenes of :mod:`rossam_geo.synth.urban` are drawn at a ground sampling distance (``gsd_m``, metres per pixel)
so that vehicles, stalls, lanes and trees keep their real proportions. Three effects are shared by
everything drawn:

* sun: every object of height ``h`` metres casts a shadow ``h * sun_px_per_m`` pixels long, the same
  direction in the whole scene; shadows go to one scene-wide shadow map applied at the end, so they also
  darken vehicles drawn later (a tree's shadow over a parked car) but never the caster's own top;
* view: off-nadir imagery shows tall things leaning away from the nadir point: the top of an object of
  height ``h`` is displaced by ``h * lean_px_per_m`` pixels, and the side between footprint and top is
  visible. The visible outline is footprint, top and side together;
* occlusion: whatever is drawn later over a labelled object (a tree canopy, a leaning taller vehicle)
  removes those pixels from the object's mask. Masks are the visible outline, as iSAID-style annotators draw
  them; objects left with less than :data:`MIN_VISIBLE_FRACTION` of their outline are dropped from the labels.

All drawing works on the bounding box of what is drawn (a region of interest), so a scene of a hundred
vehicles costs a few milliseconds per vehicle at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from rossam_geo.synth.canvas import fill_polygons

#: Objects with less of their outline visible than this are not labelled.
MIN_VISIBLE_FRACTION = 0.35

Bbox = tuple[int, int, int, int]  # row0, row1, col0, col1 (end exclusive)


def polygons_bbox(polys: list[np.ndarray], shape_hw: tuple[int, int], pad: int = 2) -> Bbox | None:
    """Pixel bounding box of polygons grown by ``pad`` and clipped to the image, or None when outside (or
    no polygon)."""
    if not polys:
        return None
    pts = np.concatenate(polys)
    c0 = max(int(np.floor(pts[:, 0].min())) - pad, 0)
    r0 = max(int(np.floor(pts[:, 1].min())) - pad, 0)
    c1 = min(int(np.ceil(pts[:, 0].max())) + pad + 1, shape_hw[1])
    r1 = min(int(np.ceil(pts[:, 1].max())) + pad + 1, shape_hw[0])
    if r1 <= r0 or c1 <= c0:
        return None
    return r0, r1, c0, c1


def coverage(polys: list[np.ndarray], bbox: Bbox, antialiased: bool = True) -> np.ndarray:
    """(h, w) float32 coverage of the polygons in the box: antialiased edges, or exact 0/1 pixel centres."""
    r0, r1, c0, c1 = bbox
    layer = np.zeros((r1 - r0, c1 - c0), np.float32)
    fill_polygons(layer, [p - (c0, r0) for p in polys], 1.0, cv2.LINE_AA if antialiased else cv2.LINE_8)
    return np.minimum(layer, 1.0)


def swept(polys: list[np.ndarray], offset_px: np.ndarray) -> list[np.ndarray]:
    """Each polygon swept along ``offset_px``: the convex hull of it and its moved copy (a prism seen from
    above, or its cast shadow)."""
    if float(np.hypot(*offset_px)) < 0.25:
        return polys
    out = []
    for poly in polys:
        both = np.concatenate([poly, poly + offset_px]).astype(np.float32)
        out.append(cv2.convexHull(both)[:, 0, :].astype(np.float64))
    return out


@dataclass
class LabelledObject:
    """One labelled object: its drawn outline and the part of it still visible, within a box of the image."""

    bbox: Bbox
    outline: np.ndarray  # (h, w) bool
    visible: np.ndarray  # (h, w) bool
    category: str


@dataclass
class MetricCanvas:
    """A scene being drawn at a ground sampling distance.

    Attributes:
        image: (H, W, 3) float32 RGB on the 0-255 scale.
        rng: the scene's random generator.
        gsd_m: ground sampling distance, metres per pixel.
        sun_px_per_m: (2,) shadow offset in pixels per metre of caster height (x, y).
        lean_px_per_m: (2,) displacement of an object's top in pixels per metre of height (x, y).
        shadow_darkness: factor taken off fully shadowed pixels (0 no shadow, 1 black).
        shadow: (H, W) float32 shadow amount in [0, 1].
        occupied: (H, W) bool: where nothing more may be placed.
        objects: labelled objects in drawing order.
    """

    image: np.ndarray
    rng: np.random.Generator
    gsd_m: float
    sun_px_per_m: np.ndarray
    lean_px_per_m: np.ndarray
    shadow_darkness: float
    shadow: np.ndarray = field(init=False)
    occupied: np.ndarray = field(init=False)
    objects: list[LabelledObject] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.shadow = np.zeros(self.hw, np.float32)
        self.occupied = np.zeros(self.hw, bool)

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.image.shape[0], self.image.shape[1]

    def px(self, metres: float) -> float:
        """A length in metres in pixels."""
        return metres / self.gsd_m

    # ------------------------------------------------------------------------------------------ drawing
    def paint(
        self,
        polys: list[np.ndarray],
        colour: np.ndarray | tuple[float, ...],
        alpha: float = 1.0,
        within: list[np.ndarray] | None = None,
    ) -> None:
        """Fill polygons with a colour (antialiased), blended with weight ``alpha``, only inside the polygons
        ``within`` when given; nothing is labelled."""
        bbox = polygons_bbox(polys, self.hw)
        if bbox is None:
            return
        r0, r1, c0, c1 = bbox
        a = coverage(polys, bbox)[..., None] * alpha
        if within is not None:
            a *= coverage(within, bbox)[..., None]
        roi = self.image[r0:r1, c0:c1]
        roi *= 1.0 - a
        roi += a * np.asarray(colour, np.float32)

    def paint_texture(self, polys: list[np.ndarray], texture: np.ndarray, alpha: float = 1.0) -> None:
        """Fill polygons with the pixels of a full-size (H, W, 3) texture."""
        bbox = polygons_bbox(polys, self.hw)
        if bbox is None:
            return
        r0, r1, c0, c1 = bbox
        a = coverage(polys, bbox)[..., None] * alpha
        roi = self.image[r0:r1, c0:c1]
        roi *= 1.0 - a
        roi += a * texture[r0:r1, c0:c1]

    def cast_shadow(self, footprint: list[np.ndarray], top: list[np.ndarray], height_m: float) -> None:
        """Add the shadow of a prism (``footprint`` raised ``height_m``) to the shadow map, minus its own
        top as seen from the sensor (a caster never shades its own top)."""
        offset = self.sun_px_per_m * height_m
        shadow_polys = swept(footprint, offset)
        bbox = polygons_bbox(shadow_polys + top, self.hw)
        if bbox is None:
            return
        r0, r1, c0, c1 = bbox
        amount = coverage(shadow_polys, bbox) * (1.0 - coverage(top, bbox))
        np.maximum(self.shadow[r0:r1, c0:c1], amount, out=self.shadow[r0:r1, c0:c1])

    def is_free(self, polys: list[np.ndarray]) -> bool:
        """Whether the polygons' pixels lie in the image and touch no occupied pixel."""
        bbox = polygons_bbox(polys, self.hw, pad=0)
        if bbox is None:
            return False
        r0, r1, c0, c1 = bbox
        return not (self.occupied[r0:r1, c0:c1] & (coverage(polys, bbox, False) > 0)).any()

    def reserve(self, polys: list[np.ndarray]) -> None:
        """Mark the polygons' pixels occupied."""
        bbox = polygons_bbox(polys, self.hw, pad=0)
        if bbox is not None:
            r0, r1, c0, c1 = bbox
            self.occupied[r0:r1, c0:c1] |= coverage(polys, bbox, False) > 0

    def occlude(self, polys: list[np.ndarray]) -> None:
        """Remove the polygons' pixels from every labelled object's visible part (something drawn on top)."""
        bbox = polygons_bbox(polys, self.hw, pad=0)
        if bbox is None:
            return
        cover = coverage(polys, bbox, False) > 0
        for obj in self.objects:
            inter = _intersection(obj.bbox, bbox)
            if inter is None:
                continue
            ir0, ir1, ic0, ic1 = inter
            obj.visible[
                ir0 - obj.bbox[0] : ir1 - obj.bbox[0], ic0 - obj.bbox[2] : ic1 - obj.bbox[2]
            ] &= ~cover[ir0 - bbox[0] : ir1 - bbox[0], ic0 - bbox[2] : ic1 - bbox[2]]

    def label(self, polys: list[np.ndarray], category: str) -> None:
        """Record a labelled object with the outline ``polys`` (drawn already), occluding earlier ones."""
        self.occlude(polys)
        bbox = polygons_bbox(polys, self.hw, pad=0)
        if bbox is None:
            return
        outline = coverage(polys, bbox, False) > 0
        if outline.sum() >= 2:
            self.objects.append(LabelledObject(bbox, outline, outline.copy(), category))

    # ------------------------------------------------------------------------------------------ result
    def finish(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Apply the shadow map (soft-edged) and collect the labels.

        Returns:
            (image (H, W, 3) float32, masks (N, H, W) bool of the visible parts, N category names).
        """
        soft = cv2.GaussianBlur(self.shadow, (0, 0), max(0.4, min(2.0, self.px(0.15))))
        self.image *= (1.0 - self.shadow_darkness * soft)[..., None]
        kept = [
            o
            for o in self.objects
            if o.visible.sum() >= 2 and o.visible.sum() >= MIN_VISIBLE_FRACTION * o.outline.sum()
        ]
        masks = np.zeros((len(kept), *self.hw), bool)
        for i, obj in enumerate(kept):
            r0, r1, c0, c1 = obj.bbox
            masks[i, r0:r1, c0:c1] = obj.visible
        return self.image, masks, [o.category for o in kept]


def _intersection(a: Bbox, b: Bbox) -> Bbox | None:
    r0, r1 = max(a[0], b[0]), min(a[1], b[1])
    c0, c1 = max(a[2], b[2]), min(a[3], b[3])
    if r1 <= r0 or c1 <= c0:
        return None
    return r0, r1, c0, c1


def new_canvas(size_px: int, rng: np.random.Generator, gsd_range_m: tuple[float, float]) -> MetricCanvas:
    """A blank canvas with a random ground sampling distance (log-uniform in ``gsd_range_m``), sun and view.

    Sun elevation 20-75 degrees (shadows 0.27-2.7 times the height), any azimuth; a view 0-15 degrees off
    nadir in any direction in 60 % of scenes (true orthophotos in the others).
    """
    gsd = float(np.exp(rng.uniform(*np.log(gsd_range_m))))
    azimuth = rng.uniform(0, 2 * np.pi)
    elevation = np.radians(rng.uniform(20.0, 75.0))
    sun = np.array([np.cos(azimuth), np.sin(azimuth)]) / np.tan(elevation) / gsd
    view_azimuth = rng.uniform(0, 2 * np.pi)
    off_nadir = np.radians(rng.uniform(0.0, 15.0)) if rng.random() < 0.6 else 0.0
    lean = np.array([np.cos(view_azimuth), np.sin(view_azimuth)]) * np.tan(off_nadir) / gsd
    return MetricCanvas(
        image=np.zeros((size_px, size_px, 3), np.float32),
        rng=rng,
        gsd_m=gsd,
        sun_px_per_m=sun,
        lean_px_per_m=lean,
        shadow_darkness=float(rng.uniform(0.35, 0.7)),
    )
