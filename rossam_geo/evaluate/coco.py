"""COCO files: instance ground truth (RLE or polygon masks) and results lists, decoded with pycocotools."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rossam_geo.errors import InputError
from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.objects import (
    GroundTruth,
    GTObject,
    ImageGrid,
    Prediction,
    Predictions,
    mask_box,
    object_key,
    optional_float,
    optional_str,
)
from rossam_geo.evaluate.rules import (
    MatchRule,
    check_rule,
    ids_by_overlap,
    ids_by_position,
    missing_ids_error,
    unmatched_label,
)
from rossam_geo.io import read_json


def decode_coco_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Decode a COCO segmentation (polygons, uncompressed or compressed RLE) to an (H, W) bool mask.

    Raises:
        InputError: the segmentation is of an unknown form or its size differs from (height, width).
    """
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list) and len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        size = [int(s) for s in segmentation["size"]]
        if size != [height, width]:
            raise InputError(
                f"RLE size {size} differs from the image size [{height}, {width}]; masks must be encoded "
                "on the image's own grid"
            )
        counts = segmentation["counts"]
        rle = (
            mask_utils.frPyObjects(segmentation, height, width) if isinstance(counts, list) else segmentation
        )
    else:
        raise InputError(
            f"unsupported COCO segmentation of type {type(segmentation).__name__}; expected polygons or RLE"
        )
    with warnings.catch_warnings():
        # pycocotools' decode triggers numpy 2's copy-keyword deprecation notice; it is harmless here
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(mask_utils.decode(rle), dtype=bool)


def _coco_grid(image: dict[str, Any]) -> ImageGrid:
    try:
        return ImageGrid(
            image_id=object_key(image["id"]),
            name=str(image.get("file_name", image["id"])),
            height=int(image["height"]),
            width=int(image["width"]),
        )
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"COCO image entry {image!r} lacks id, height or width; fix the annotation file"
        ) from None


def _xywh_to_xyxy(bbox: Any) -> tuple[float, float, float, float] | None:
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    return (x, y, x + w, y + h)


def read_coco_ground_truth(path: str | Path) -> GroundTruth:
    """Read a COCO instance-segmentation JSON as ground truth.

    Crowd annotations (``iscrowd`` = 1) and annotations whose mask cannot be decoded are left out and listed
    in :attr:`GroundTruth.skipped`.

    Args:
        path: the COCO JSON (``images``, ``annotations``, ``categories``).
    """
    path = Path(path)
    data = read_json(path, "a COCO JSON file")
    if not isinstance(data, dict) or "annotations" not in data or "images" not in data:
        raise InputError(f"{path} is not a COCO instance file (needs 'images' and 'annotations')")
    images = {grid.image_id: grid for grid in (_coco_grid(i) for i in data["images"])}
    categories = {object_key(c["id"]): str(c.get("name", c["id"])) for c in data.get("categories", [])}
    objects: dict[str, GTObject] = {}
    skipped: list[tuple[str, str]] = []
    for ann in data["annotations"]:
        oid = object_key(ann.get("id"))
        image_key = object_key(ann.get("image_id"))
        if ann.get("iscrowd", 0):
            skipped.append((oid, "crowd annotation"))
            continue
        if image_key not in images:
            skipped.append((oid, f"image_id {image_key} is not among the images"))
            continue
        if oid in objects:
            skipped.append((oid, "duplicate annotation id"))
            continue
        grid = images[image_key]
        if ann.get("segmentation") is None:
            skipped.append((oid, "null segmentation"))
            continue
        try:
            full = decode_coco_segmentation(ann["segmentation"], grid.height, grid.width)
        except InputError as exc:
            skipped.append((oid, str(exc)))
            continue
        mask = CroppedMask.from_full(full)
        if mask.is_empty:
            skipped.append((oid, f"empty mask (no pixel inside image {grid.name})"))
            continue
        box = _xywh_to_xyxy(ann["bbox"]) if "bbox" in ann else None
        objects[oid] = GTObject(
            object_id=oid,
            image_id=image_key,
            class_name=categories.get(
                object_key(ann.get("category_id")), optional_str(ann.get("category_id"))
            ),
            mask=mask,
            box_px_xyxy=box if box is not None else mask_box(mask),
        )
    return GroundTruth(images=images, objects=objects, skipped=skipped, source=str(path))


def _entry_id(entry: Any) -> Any:
    return entry.get("annotation_id", entry.get("id")) if isinstance(entry, dict) else None


def _ids_by_overlap(entries: list[Any], gt: GroundTruth) -> list[str | None]:
    """Match results entries to objects of their ``image_id`` by mask IoU (undecodable entries: None)."""
    candidates: list[tuple[str, CroppedMask | None]] = []
    for entry in entries:
        image_key = object_key(entry.get("image_id")) if isinstance(entry, dict) else ""
        grid = gt.images.get(image_key)
        mask = None
        if grid is not None:
            try:
                mask = CroppedMask.from_full(
                    decode_coco_segmentation(entry.get("segmentation"), grid.height, grid.width)
                )
            except InputError:
                mask = None
        candidates.append((image_key, mask))
    return ids_by_overlap(candidates, gt)


def read_coco_results(path: str | Path, gt: GroundTruth, *, match: MatchRule = "id") -> Predictions:
    """Read a COCO results JSON (a list of RLE detections) matched to ``gt``.

    Under ``match="id"`` each entry's id is ``annotation_id`` when present, else ``id``; a file in which no
    entry has one is refused. ``"position"`` and ``"overlap"`` (by ``image_id`` and mask IoU) match entries
    without ids (see :mod:`rossam_geo.evaluate.rules`).

    Raises:
        InputError: not a results list, or no ids under ``match="id"``.
    """
    path = Path(path)
    match = check_rule(match)
    data = read_json(path, "a COCO JSON file")
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list):
        raise InputError(f"{path} is not a COCO results list; expected a JSON list of detections")
    if match == "id" and data and all(_entry_id(entry) is None for entry in data):
        raise missing_ids_error(path, "annotation_id or id in any entry")
    rule_ids: list[str | None] = []
    if match == "position":
        rule_ids = ids_by_position(len(data), gt)
    elif match == "overlap":
        rule_ids = _ids_by_overlap(data, gt)
    matched: dict[str, Prediction] = {}
    unmatched: list[str] = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            unmatched.append(f"<entry {index}: not a JSON object>")
            continue
        raw_id = _entry_id(entry) if match == "id" else rule_ids[index]
        if raw_id is None:
            unmatched.append(f"<no id: entry {index}>" if match == "id" else unmatched_label(index, match))
            continue
        oid = object_key(raw_id)
        obj = gt.objects.get(oid)
        if obj is None:
            unmatched.append(oid)
            continue
        if oid in matched:
            matched[oid] = Prediction(oid, None, None, "error", f"several predictions with id {oid}")
            continue
        grid = gt.images[obj.image_id]
        score = optional_float(entry.get("score"))
        if "image_id" in entry and object_key(entry["image_id"]) != obj.image_id:
            matched[oid] = Prediction(
                oid, None, score, "error", f"image_id {entry['image_id']} differs from the ground truth's"
            )
            continue
        try:
            full = decode_coco_segmentation(entry.get("segmentation"), grid.height, grid.width)
        except InputError as exc:
            matched[oid] = Prediction(oid, None, score, "error", str(exc))
            continue
        matched[oid] = Prediction(oid, CroppedMask.from_full(full), score)
    return Predictions(matched=matched, unmatched_ids=unmatched, source=str(path))
