"""Fixtures of the bundled-model tests: a small synthetic airfield as a GeoTIFF with lon/lat prompt boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from shapely.geometry import box

from rossam_geo.synth import SynthScene, generate_scene

#: 0.5 m pixels in UTM zone 33N.
UTM_TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)


@dataclass
class GeoScene:
    """A scene on disk with its prompts and the generator's exact masks."""

    raster: Path
    prompts: Path
    scene: SynthScene


def _write_scene(tmp_path: Path, scene: SynthScene) -> GeoScene:
    raster = tmp_path / "scene.tif"
    height, width = scene.image_rgb.shape[:2]
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=UTM_TRANSFORM,
    ) as dst:
        dst.write(np.moveaxis(scene.image_rgb, 2, 0))
    boxes = []
    for x0, y0, x1, y1 in scene.boxes_px_xyxy:
        left, top = UTM_TRANSFORM @ (x0, y0)
        right, bottom = UTM_TRANSFORM @ (x1, y1)
        boxes.append(box(*transform_bounds("EPSG:32633", "EPSG:4326", left, bottom, right, top)))
    prompts = tmp_path / "boxes.geojson"
    gpd.GeoDataFrame({"class": scene.classes}, geometry=boxes, crs="EPSG:4326").to_file(prompts)
    return GeoScene(raster, prompts, scene)


@pytest.fixture
def airfield(tmp_path: Path) -> GeoScene:
    """A 160 px airfield scene (seed outside the training set's) with its airplanes' boxes."""
    for seed in range(100):
        scene = generate_scene((999, seed), size_px=160, kind="airfield")
        areas = scene.masks.sum(axis=(1, 2))
        if len(scene.classes) >= 3 and (areas >= 60).all():
            return _write_scene(tmp_path, scene)
    raise AssertionError("no suitable airfield scene")  # pragma: no cover
