"""What every training dataset shares: the dataset protocol, the class filter, whole-image reads and the
making of a sample from an image and its object masks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rossam_geo.train.transforms import Sample, masks_to_boxes_xyxy, select_objects

__all__ = [
    "RASTER_SUFFIXES",
    "ClassFilter",
    "SampleSource",
    "finish_sample",
    "normalize_class",
    "read_image_rgb",
]

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img")


class SampleSource(Protocol):
    """What the training loop needs of a dataset: a length and samples by index."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


class ClassFilter:
    """Keeps objects by class name, case-insensitively.

    Args:
        classes: names to keep; empty keeps every class not excluded.
        exclude: names to drop.
    """

    def __init__(self, classes: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.classes = frozenset(normalize_class(c) for c in classes)
        self.exclude = frozenset(normalize_class(c) for c in exclude)

    def __call__(self, name: str) -> bool:
        name = normalize_class(name)
        if name in self.exclude:
            return False
        return not self.classes or name in self.classes


def normalize_class(name: str) -> str:
    """Lower-case class name with surrounding spaces removed (``" Airplane "`` -> ``"airplane"``)."""
    return str(name).strip().lower()


def read_image_rgb(path: Path) -> np.ndarray:
    """Whole image as (H, W, 3) uint8 RGB (one band: gray replicated)."""
    from rossam_geo.io import open_raster

    with open_raster(path) as reader:
        image, _ = reader.read_window_rgb(0, 0, reader.info.width, reader.info.height)
    return image


def finish_sample(image: np.ndarray, masks: np.ndarray, classes: list[str], image_id: str) -> Sample:
    """A sample of ``image`` with its objects' masks, tight boxes and classes (empty objects dropped)."""
    sample: Sample = {
        "image": image,
        "masks": masks,
        "boxes": masks_to_boxes_xyxy(masks),
        "classes": classes,
        "image_id": image_id,
    }
    return select_objects(sample, masks.reshape(masks.shape[0], -1).any(axis=1))
