"""Fixtures for the evaluation tests: a tiny COCO dataset folder and a UTM raster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.sources import GroundTruth, GTObject, ImageGrid, Prediction, Predictions
from tests.evaluate.fakes import UTM33, UTM33_TRANSFORM, rect_mask, write_coco_dataset


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    """A two-image COCO dataset folder (see :func:`write_coco_dataset`)."""
    root = tmp_path / "dataset"
    write_coco_dataset(root)
    return root


@pytest.fixture
def utm_raster(tmp_path: Path) -> Path:
    """A 60 x 80 px, 3-band uint8 GeoTIFF in UTM 33N with 0.5 m pixels."""
    path = tmp_path / "scene.tif"
    data = np.full((3, 60, 80), 50, dtype=np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=60,
        width=80,
        count=3,
        dtype="uint8",
        crs=UTM33,
        transform=UTM33_TRANSFORM,
    ) as ds:
        ds.write(data)
    return path


SHAPE_A, SHAPE_B = (100, 100), (200, 200)


def _gt_object(oid: str, image: str, cls: str, shape, r, c, h, w) -> GTObject:
    mask = CroppedMask.from_full(rect_mask(shape, r, c, h, w))
    return GTObject(oid, image, cls, mask, (float(c), float(r), float(c + w), float(r + h)))


@pytest.fixture
def scene_pair() -> tuple[GroundTruth, Predictions]:
    """Two images, three objects, two predictions, one unmatched id (numbers in test_matching.py)."""
    gt = GroundTruth(
        images={"A": ImageGrid("A", "a.png", *SHAPE_A), "B": ImageGrid("B", "b.png", *SHAPE_B)},
        objects={
            "1": _gt_object("1", "A", "car", SHAPE_A, 10, 10, 10, 10),
            "2": _gt_object("2", "A", "ship", SHAPE_A, 50, 50, 40, 40),
            "3": _gt_object("3", "B", "ship", SHAPE_B, 50, 50, 100, 100),
        },
        source="hand",
    )
    preds = Predictions(
        matched={
            "1": Prediction("1", CroppedMask.from_full(rect_mask(SHAPE_A, 10, 10, 10, 10)), 0.9),
            "2": Prediction("2", CroppedMask.from_full(rect_mask(SHAPE_A, 50, 50, 40, 20)), 0.8),
        },
        unmatched_ids=["99"],
        source="hand",
    )
    return gt, preds
