"""Training datasets: COCO instance JSON, the SAT-MTB ``npy`` layout, GeoTIFF scenes with label polygons.

Every dataset is a sequence of :class:`~rossam_geo.train.transforms.Sample` dicts: ``image`` (H, W, 3) uint8
RGB, ``masks`` (N, H, W) bool, ``boxes`` (N, 4) float64 XYXY pixels (tight boxes of the masks), ``classes``
(N names, lower-case) and ``image_id``. Images without any object left after the class filter are not listed.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import InputError
from rossam_geo.io.documents import read_json, read_npy
from rossam_geo.train.chips import GeoTiffChips
from rossam_geo.train.chips import ImageChips as ImageChips  # re-exported
from rossam_geo.train.samples import (
    RASTER_SUFFIXES,
    ClassFilter,
    SampleSource,
    finish_sample,
    normalize_class,
    read_image_rgb,
)
from rossam_geo.train.transforms import Sample, Transform

if TYPE_CHECKING:
    import torch


class CocoInstances:
    """COCO instance annotations (RLE or polygon masks) with their images.

    Crowd annotations and objects of filtered classes are skipped.

    Args:
        annotations_json: the COCO JSON file.
        images_root: folder that ``file_name`` entries are relative to (default: the JSON file's folder).
        class_filter: which classes to keep (by category name).

    Raises:
        InputError: the file is missing or not COCO instance JSON.
    """

    def __init__(
        self,
        annotations_json: str | Path,
        images_root: str | Path | None = None,
        class_filter: ClassFilter | None = None,
    ) -> None:
        from pycocotools.coco import COCO

        path = Path(annotations_json)
        content = read_json(path, "COCO instance annotations")
        if not isinstance(content, dict) or "images" not in content or "annotations" not in content:
            raise InputError(
                f"{str(path)!r} is not COCO instance JSON (needs 'images' and 'annotations'); "
                "pass a COCO file or choose another data_format"
            )
        content.setdefault("categories", [])
        self.coco = COCO()
        self.coco.dataset = content
        with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
            self.coco.createIndex()
        self.root = Path(images_root) if images_root is not None else path.parent
        keep = class_filter or ClassFilter()
        self.category_names = {c["id"]: normalize_class(c["name"]) for c in content["categories"]}
        self._annotations: dict[int, list[dict[str, Any]]] = {}
        for image_id in sorted(self.coco.imgs):
            anns = [
                a
                for a in self.coco.imgToAnns.get(image_id, [])
                if not a.get("iscrowd", 0)
                and a.get("segmentation")
                and keep(self.category_names.get(a["category_id"], str(a["category_id"])))
            ]
            if anns:
                self._annotations[image_id] = anns
        self.image_ids = list(self._annotations)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> Sample:
        image_id = self.image_ids[index]
        info = self.coco.imgs[image_id]
        image = read_image_rgb(self.root / info["file_name"])
        anns = self._annotations[image_id]
        height, width = image.shape[:2]
        masks = np.zeros((len(anns), height, width), dtype=bool)
        for i, ann in enumerate(anns):
            masks[i] = self.coco.annToMask(ann).astype(bool)[:height, :width]
        classes = [self.category_names.get(a["category_id"], str(a["category_id"])) for a in anns]
        return finish_sample(image, masks, classes, str(info["file_name"]))


class SatMtbFolder:
    """The SAT-MTB layout: ``{root}/{split}/img/*.png``, ``boxes/*.npy``, ``onehotmask/*.npy``.

    ``onehotmask/<stem>.npy`` holds (N, H, W) masks (0/255 or bool), ``boxes/<stem>.npy`` (N, 4) float XYXY
    boxes (only their count is used: boxes are recomputed from the masks). The class of every object is the
    leading letters of the image stem (``airplane235_0001`` -> ``airplane``).

    Args:
        root: dataset folder.
        split: split folder (``train``, ``test``...).
        class_filter: which classes to keep.

    Raises:
        InputError: the image folder is missing or empty.
    """

    def __init__(
        self, root: str | Path, split: str = "train", class_filter: ClassFilter | None = None
    ) -> None:
        self.root = Path(root) / split
        image_dir = self.root / "img"
        if not image_dir.is_dir():
            raise InputError(
                f"SAT-MTB folder {str(image_dir)!r} does not exist; expected {root}/{split}/img, "
                f"{root}/{split}/boxes and {root}/{split}/onehotmask"
            )
        keep = class_filter or ClassFilter()
        self.stems = [
            p.stem
            for p in sorted(image_dir.glob("*.png"))
            if (self.root / "onehotmask" / f"{p.stem}.npy").is_file() and keep(self.class_of(p.stem))
        ]
        if not self.stems:
            raise InputError(
                f"no image in {str(image_dir)!r} has a matching onehotmask/<name>.npy and a class kept by "
                "the class filter; check the layout and --classes / --exclude-classes"
            )

    @staticmethod
    def class_of(stem: str) -> str:
        """Class name encoded in an image stem: its leading letters."""
        match = re.match(r"[A-Za-z]+", stem)
        return normalize_class(match.group(0)) if match else "object"

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> Sample:
        stem = self.stems[index]
        image = read_image_rgb(self.root / "img" / f"{stem}.png")
        masks = read_npy(self.root / "onehotmask" / f"{stem}.npy", f"the mask stack of {stem}.png")
        if masks.ndim == 2:
            masks = masks[None]
        masks = masks > (127 if masks.dtype != bool and masks.max(initial=0) > 1 else 0)
        if masks.shape[1:] != image.shape[:2]:
            raise InputError(
                f"mask stack {stem}.npy has shape {masks.shape} but image {stem}.png is "
                f"{image.shape[0]}x{image.shape[1]}; regenerate the masks at image size"
            )
        return finish_sample(image, masks, [self.class_of(stem)] * masks.shape[0], stem)


def open_dataset(
    data: str | Path,
    data_format: str = "auto",
    *,
    labels: str | Path = "",
    split: str = "train",
    chip_size_px: int = 512,
    class_column: str = "class",
    class_filter: ClassFilter | None = None,
) -> SampleSource:
    """Open training data in any supported format.

    Args:
        data: COCO JSON file, SAT-MTB folder or GeoTIFF scene.
        data_format: ``coco``, ``satmtb``, ``geotiff`` or ``auto`` (``.json`` file -> coco, folder -> satmtb,
            raster suffix -> geotiff).
        labels: label polygons for ``geotiff``.
        split: SAT-MTB split folder.
        chip_size_px: GeoTIFF chip side in pixels.
        class_column: GeoTIFF label class attribute.
        class_filter: which classes to keep.

    Raises:
        InputError: the format cannot be told or the data is missing/empty.
    """
    path = Path(data)
    fmt = data_format
    if fmt == "auto":
        if path.is_dir():
            fmt = "satmtb"
        elif path.suffix.lower() == ".json":
            fmt = "coco"
        elif path.suffix.lower() in RASTER_SUFFIXES:
            fmt = "geotiff"
        else:
            raise InputError(
                f"cannot tell the format of {str(path)!r}; pass data_format coco (JSON), satmtb (folder) "
                "or geotiff (raster with --labels)"
            )
    dataset: SampleSource
    if fmt == "coco":
        dataset = CocoInstances(path, class_filter=class_filter)
    elif fmt == "satmtb":
        dataset = SatMtbFolder(path, split, class_filter=class_filter)
    elif fmt == "geotiff":
        if not labels:
            raise InputError(
                f"GeoTIFF training data {str(path)!r} needs label polygons: pass --labels FILE.gpkg"
            )
        dataset = GeoTiffChips(path, labels, chip_size_px, class_column, class_filter=class_filter)
    else:
        raise InputError(f"unknown data_format {fmt!r}; choose auto, coco, satmtb or geotiff")
    if len(dataset) == 0:
        raise InputError(f"no image with objects in {str(path)!r} after the class filter; check classes")
    return dataset


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded train/validation split of ``n`` images.

    Args:
        n: number of images.
        val_fraction: share held out, rounded to a whole number of images; at least one image each when
            ``val_fraction > 0`` and ``n >= 2``.
        seed: split seed.

    Returns:
        (train indexes, validation indexes), each sorted.
    """
    if val_fraction <= 0 or n < 2:
        return list(range(n)), []
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


class AugmentedDataset:
    """A torch-style dataset of transformed samples over chosen images, reproducible per (seed, epoch, image).

    The random generator of item ``k`` in epoch ``e`` is seeded with ``(seed, e, indexes[k])``, so the
    augmentation of an image does not depend on worker count, rank, order, or on resuming.

    Args:
        source: the underlying dataset.
        indexes: images of ``source`` to use.
        transform: ``(sample, rng) -> sample``.
        seed: base seed.
    """

    def __init__(self, source: SampleSource, indexes: Sequence[int], transform: Transform, seed: int) -> None:
        self.source = source
        self.indexes = list(indexes)
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draw of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indexes)

    def __getitem__(self, k: int) -> dict[str, Any]:
        import torch

        index = self.indexes[k]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = self.transform(self.source[index], rng)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(sample["image"])),
            "masks": torch.from_numpy(np.ascontiguousarray(sample["masks"])),
            "boxes": torch.from_numpy(sample["boxes"].astype(np.float32)),
            "prompt_boxes": torch.from_numpy(sample["prompt_boxes"].astype(np.float32)),
            "classes": list(sample["classes"]),
            "image_id": str(sample.get("image_id", index)),
        }


def collate_samples(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples of equal image size with varying object counts.

    Returns:
        ``images`` (B, S, S, 3) uint8 tensor; ``masks``, ``boxes``, ``prompt_boxes``: lists of B tensors of
        shapes (N_i, S, S) bool, (N_i, 4) float32, (N_i, 4) float32; ``classes`` and ``image_ids`` lists.
    """
    import torch

    images: torch.Tensor = torch.stack([item["image"] for item in items])
    return {
        "images": images,
        "masks": [item["masks"] for item in items],
        "boxes": [item["boxes"] for item in items],
        "prompt_boxes": [item["prompt_boxes"] for item in items],
        "classes": [item["classes"] for item in items],
        "image_ids": [item["image_id"] for item in items],
    }
