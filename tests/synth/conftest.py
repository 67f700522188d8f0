"""Fixtures of the synthetic-scene tests: a tiny georeferenced background raster and a tiny dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine


@pytest.fixture(scope="session")
def background_raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64 x 48 px uint8 RGB GeoTIFF in EPSG:32617 (0.5 m pixels) with a left-to-right red ramp."""
    path = tmp_path_factory.mktemp("rasters") / "ramp.tif"
    data = np.zeros((3, 48, 64), np.uint8)
    data[0] = np.linspace(20, 240, 64, dtype=np.uint8)[None, :]
    data[1] = 90
    data[2] = 60
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=48,
        count=3,
        dtype="uint8",
        crs="EPSG:32617",
        transform=Affine(0.5, 0.0, 400_000.0, 0.0, -0.5, 3_300_000.0),
    ) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-scene synthetic COCO dataset of 64 px scenes; returns its annotations JSON."""
    from rossam_geo.synth import write_coco_dataset

    return write_coco_dataset(tmp_path_factory.mktemp("synth") / "data", 6, seed=3, size_px=64)
