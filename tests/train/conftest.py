"""Fixtures for the training tests: tiny generated datasets in every supported layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.train.synthetic import shapes_image, write_coco


@pytest.fixture(scope="session")
def shapes_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COCO dataset of 12 generated 128 px images with 2 shapes each (RLE masks)."""
    return write_coco(tmp_path_factory.mktemp("shapes_coco"), n_images=12, seed=3)


@pytest.fixture()
def shape_sample() -> dict:
    """One generated 96 px sample with 3 objects, in the training sample format."""
    from rossam_geo.train.transforms import masks_to_boxes_xyxy

    image, masks, classes = shapes_image(np.random.default_rng(5), size=96, n_objects=3, min_px=16, max_px=30)
    return {"image": image, "masks": masks, "boxes": masks_to_boxes_xyxy(masks), "classes": classes}
