"""Generate the synthetic sample scene of the examples (seeded, so the output is reproducible).

Writes, next to this script:

* ``airfield.tif``: 1500 x 1200 px uint8 RGB GeoTIFF, 0.5 m pixels in UTM zone 31N (EPSG:32631), with water,
  grass, a runway, an apron and a road; airplanes on the apron and runway, ships on the water, cars on the
  road and the parking.
* ``airfield_boxes.geojson``: one box per object in EPSG:4326 with a ``class`` field (airplane / ship / car)
  and an ``name`` field.

Run: ``python examples/make_sample.py``. Everything is drawn with OpenCV on seeded NumPy noise.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 1500, 1200
CRS = "EPSG:32631"
#: upper-left corner 372000 E, 4830000 N (near Toulouse), 0.5 m pixels
TRANSFORM = (0.5, 0.0, 372_000.0, 0.0, -0.5, 4_830_000.0)
SEED = 20240611


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell_px: int, amplitude: float
) -> np.ndarray:
    """Low-frequency noise: random values on a coarse grid, bicubic-upsampled."""
    coarse = rng.normal(0, amplitude, (shape[0] // cell_px + 2, shape[1] // cell_px + 2)).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def background(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(H, W, 3) float RGB ground and the masks of its land-cover zones."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    shore = 430 + 60 * np.sin(rows / 170.0) + smooth_noise(rng, (HEIGHT, WIDTH), 200, 12)
    water = cols < shore
    runway = (np.abs((rows - 0.18 * (cols - 900)) - 300) < 28) & ~water & (cols > 520)
    apron = (rows > 560) & (rows < 900) & (cols > 760) & (cols < 1330)
    road = (np.abs(cols - 0.35 * rows - 560) < 9) & ~water & ~apron
    parking = (rows > 960) & (rows < 1080) & (cols > 1050) & (cols < 1330)
    zones = {"water": water, "runway": runway, "apron": apron, "road": road, "parking": parking}

    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    grass = np.array([88, 112, 58], np.float32) + smooth_noise(rng, (HEIGHT, WIDTH), 40, 9)[..., None]
    image[:] = grass
    image[..., 1] += smooth_noise(rng, (HEIGHT, WIDTH), 12, 6)
    image[water] = (
        np.array([28, 62, 84], np.float32) + smooth_noise(rng, (HEIGHT, WIDTH), 60, 4)[..., None]
    )[water]
    for zone, colour in (("apron", 150), ("runway", 92), ("road", 78), ("parking", 120)):
        tone = np.float32(colour) + smooth_noise(rng, (HEIGHT, WIDTH), 25, 4)
        image[zones[zone]] = np.stack([tone, tone, tone * 1.02], axis=-1)[zones[zone]]
    # runway centre-line dashes
    for x in range(560, 1500, 60):
        y = 300 + 0.18 * (x - 900)
        cv2.line(image, (x, round(y)), (x + 30, round(y + 0.18 * 30)), (225, 225, 225), 2)
    return image, zones


def place(points: np.ndarray, centre: tuple[float, float], angle_deg: float) -> np.ndarray:
    """Rotate local (x, y) points by ``angle_deg`` and move them to ``centre`` (pixels)."""
    a = math.radians(angle_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return points @ rotation.T + np.asarray(centre)


def airplane(length: float) -> list[np.ndarray]:
    """Polygons (local pixels, nose towards +x) of a jet airliner: fuselage, wings, tailplane."""
    half = length / 2
    body_w = length * 0.06
    fuselage = np.array(
        [[half, 0], [half * 0.85, body_w], [-half * 0.9, body_w * 0.8], [-half, 0],
         [-half * 0.9, -body_w * 0.8], [half * 0.85, -body_w]]
    )  # fmt: skip
    span = length * 0.48
    wings = np.array(
        [[length * 0.12, body_w], [-length * 0.12, span], [-length * 0.2, span], [-length * 0.08, body_w],
         [-length * 0.08, -body_w], [-length * 0.2, -span], [-length * 0.12, -span], [length * 0.12, -body_w]]
    )  # fmt: skip
    tail = np.array(
        [[-half * 0.72, body_w], [-half * 0.95, length * 0.18], [-half, length * 0.18], [-half * 0.92, 0],
         [-half, -length * 0.18], [-half * 0.95, -length * 0.18], [-half * 0.72, -body_w]]
    )  # fmt: skip
    return [fuselage, wings, tail]


def ship(length: float) -> list[np.ndarray]:
    """Polygons (local pixels, bow towards +x) of a ship hull and its superstructure."""
    half, beam = length / 2, length * 0.09
    hull = np.array([[half, 0], [half * 0.7, beam], [-half, beam], [-half, -beam], [half * 0.7, -beam]])
    bridge = np.array([[-half * 0.55, beam * 0.6], [-half * 0.85, beam * 0.6], [-half * 0.85, -beam * 0.6],
                       [-half * 0.55, -beam * 0.6]])  # fmt: skip
    return [hull, bridge]


def car(length: float) -> list[np.ndarray]:
    """The polygon (local pixels) of a car seen from above."""
    half, width = length / 2, length * 0.22
    return [np.array([[half, width], [-half, width], [-half, -width], [half, -width]])]


def draw(
    image: np.ndarray,
    parts: list[np.ndarray],
    centre: tuple[float, float],
    angle: float,
    colours: list[tuple],
) -> tuple[float, float, float, float]:
    """Draw an object with a soft shadow; return its pixel XYXY box (edges)."""
    placed = [place(p, centre, angle) for p in parts]
    shadow_offset = np.array([3.0, 2.0])
    for poly in placed:
        cv2.fillPoly(
            image, [np.round((poly + shadow_offset) * 4).astype(np.int32)], (30, 32, 30), cv2.LINE_AA, 2
        )
    for poly, colour in zip(placed, colours, strict=False):
        cv2.fillPoly(image, [np.round(poly * 4).astype(np.int32)], colour, cv2.LINE_AA, 2)
    points = np.concatenate(placed)
    return (
        float(np.floor(points[:, 0].min())),
        float(np.floor(points[:, 1].min())),
        float(np.ceil(points[:, 0].max())) + 1,
        float(np.ceil(points[:, 1].max())) + 1,
    )


def main() -> None:
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine
    from rasterio.warp import transform_bounds

    rng = np.random.default_rng(SEED)
    image, _zones = background(rng)
    objects: list[tuple[str, str, tuple[float, float, float, float]]] = []
    white, grey = (236, 236, 240), (200, 204, 210)
    for i, (cx, cy, angle, length) in enumerate(
        [(880, 660, 90, 76), (990, 650, 95, 64), (1100, 670, 80, 84), (1220, 700, 120, 58), (900, 820, 0, 70),
         (1080, 830, 200, 46), (760, 230, 10, 90)]
    ):  # fmt: skip
        box = draw(image, airplane(length), (cx, cy), angle, [white, grey, white])
        objects.append(("airplane", f"airplane {i + 1}", box))
    for i, (cx, cy, angle, length) in enumerate(
        [(150, 200, 20, 110), (260, 520, -35, 70), (120, 820, 75, 50), (330, 1050, 5, 140),
         (90, 480, 160, 34)]
    ):  # fmt: skip
        box = draw(image, ship(length), (cx, cy), angle, [(214, 210, 200), (90, 60, 50)])
        objects.append(("ship", f"ship {i + 1}", box))
    palette = [(180, 30, 30), (30, 60, 160), (230, 230, 230), (20, 20, 20), (200, 170, 40)]
    for i, (cx, cy, angle) in enumerate(
        [(1080, 985, 90), (1100, 985, 90), (1140, 988, 90), (1200, 1050, 90), (1240, 1052, 90),
         (880, 920, 19), (800, 700, 19)]
    ):  # fmt: skip
        box = draw(image, car(9.0), (cx, cy), angle, [palette[i % len(palette)]])
        objects.append(("car", f"car {i + 1}", box))

    image += rng.normal(0, 1.5, image.shape).astype(np.float32)
    pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
    transform = Affine(*TRANSFORM)
    profile = dict(
        driver="GTiff", width=WIDTH, height=HEIGHT, count=3, dtype="uint8", crs=CRS, transform=transform,
        tiled=True, blockxsize=256, blockysize=256, compress="deflate", predictor=2, photometric="RGB",
    )  # fmt: skip
    with rasterio.open(HERE / "airfield.tif", "w", **profile) as dst:
        dst.write(pixels.transpose(2, 0, 1))

    geoms, classes, names = [], [], []
    for cls, name, (x0, y0, x1, y1) in objects:
        left, top = transform @ (x0 - 2, y0 - 2)
        right, bottom = transform @ (x1 + 2, y1 + 2)
        geoms.append(shapely.box(*transform_bounds(CRS, "EPSG:4326", left, bottom, right, top)))
        classes.append(cls)
        names.append(name)
    boxes = gpd.GeoDataFrame({"class": classes, "name": names}, geometry=geoms, crs="EPSG:4326")
    out = HERE / "airfield_boxes.geojson"
    out.unlink(missing_ok=True)
    boxes.to_file(out, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=8)
    print(f"wrote {HERE / 'airfield.tif'} and {out} ({len(boxes)} boxes)")


if __name__ == "__main__":
    main()
