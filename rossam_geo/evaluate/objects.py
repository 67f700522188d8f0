"""The objects evaluation works on: image grids, ground-truth objects, matched predictions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS

from rossam_geo.evaluate.masks import CroppedMask


@dataclass(frozen=True)
class ImageGrid:
    """The pixel grid of one ground-truth image.

    Attributes:
        image_id: key of the image (COCO image id as a string, or the raster's file name).
        name: file name of the image.
        height: rows, pixels.
        width: columns, pixels.
        transform: pixel -> ``crs`` affine; identity for a pixel frame.
        crs: the image's CRS, or None for a pixel frame (y down).
    """

    image_id: str
    name: str
    height: int
    width: int
    transform: Affine = field(default_factory=Affine.identity)
    crs: CRS | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (self.height, self.width)


@dataclass(frozen=True)
class GTObject:
    """One ground-truth object.

    Attributes:
        object_id: id predictions are matched by (string).
        image_id: key of its image in :attr:`GroundTruth.images`.
        class_name: class or category name, None when unknown.
        mask: the object's mask on its image's grid.
        box_px_xyxy: the annotated box (xmin, ymin, xmax, ymax), pixel edges; for COCO, ``bbox`` converted
            from xywh; otherwise the mask's bounding box. None for an empty object without box.
    """

    object_id: str
    image_id: str
    class_name: str | None
    mask: CroppedMask
    box_px_xyxy: tuple[float, float, float, float] | None


@dataclass
class GroundTruth:
    """Ground-truth objects and the images they lie in.

    Attributes:
        images: image key -> grid, in source order.
        objects: object id -> object, in source order.
        skipped: (id, reason) of annotations left out (crowd regions, null or empty geometry, outside the
            image, unreadable mask).
        source: where it was read from.
        repaired: ids of objects whose polygon was invalid and was repaired with ``shapely.make_valid``.
    """

    images: dict[str, ImageGrid]
    objects: dict[str, GTObject]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    repaired: list[str] = field(default_factory=list)

    def subset(self, object_ids: list[str]) -> GroundTruth:
        """The ground truth restricted to ``object_ids`` (and the images holding them)."""
        objects = {i: self.objects[i] for i in object_ids}
        used = {o.image_id for o in objects.values()}
        images = {k: v for k, v in self.images.items() if k in used}
        return GroundTruth(
            images=images,
            objects=objects,
            skipped=list(self.skipped),
            source=self.source,
            repaired=[i for i in self.repaired if i in objects],
        )


@dataclass(frozen=True)
class Prediction:
    """One predicted object matched to a ground-truth object.

    Attributes:
        object_id: the ground-truth id it is matched to.
        mask: the predicted mask on the ground truth's grid; None when it could not be read.
        score: the engine's confidence, None when absent.
        status: ``"ok"``, ``"skipped"`` or ``"failed"`` as reported by the segmenter, ``"error"`` when the
            prediction could not be read here.
        reason: why it is not ``"ok"``, else "".
    """

    object_id: str
    mask: CroppedMask | None
    score: float | None = None
    status: str = "ok"
    reason: str = ""


@dataclass
class Predictions:
    """Predictions matched by id to a ground truth.

    Attributes:
        matched: ground-truth id -> prediction.
        unmatched_ids: ids of predictions without a ground-truth object (reported, not scored).
        source: where they were read from.
    """

    matched: dict[str, Prediction]
    unmatched_ids: list[str] = field(default_factory=list)
    source: str = ""


def object_key(value: Any) -> str:
    """Canonical string form of an object id (integral floats lose their ``.0``)."""
    if isinstance(value, (float, np.floating)) and math.isfinite(float(value)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def optional_str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def optional_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def mask_box(mask: CroppedMask) -> tuple[float, float, float, float] | None:
    """The mask's bounding box as float pixel edges (xmin, ymin, xmax, ymax), None when empty."""
    box = mask.box_px_xyxy
    return None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
