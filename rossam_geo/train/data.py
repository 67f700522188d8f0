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
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rossam_geo.errors import CRSError, InputError
from rossam_geo.io.documents import read_json, read_npy
from rossam_geo.train.transforms import Sample, Transform, masks_to_boxes_xyxy, select_objects

if TYPE_CHECKING:
    import torch

    from rossam_geo.io import RasterReader

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


def _read_image_rgb(path: Path) -> np.ndarray:
    """Whole image as (H, W, 3) uint8 RGB (one band: gray replicated)."""
    from rossam_geo.io import open_raster

    with open_raster(path) as reader:
        image, _ = reader.read_window_rgb(0, 0, reader.info.width, reader.info.height)
    return image


def _finish(image: np.ndarray, masks: np.ndarray, classes: list[str], image_id: str) -> Sample:
    sample: Sample = {
        "image": image,
        "masks": masks,
        "boxes": masks_to_boxes_xyxy(masks),
        "classes": classes,
        "image_id": image_id,
    }
    return select_objects(sample, masks.reshape(masks.shape[0], -1).any(axis=1))


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
        image = _read_image_rgb(self.root / info["file_name"])
        anns = self._annotations[image_id]
        height, width = image.shape[:2]
        masks = np.zeros((len(anns), height, width), dtype=bool)
        for i, ann in enumerate(anns):
            masks[i] = self.coco.annToMask(ann).astype(bool)[:height, :width]
        classes = [self.category_names.get(a["category_id"], str(a["category_id"])) for a in anns]
        return _finish(image, masks, classes, str(info["file_name"]))


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
        image = _read_image_rgb(self.root / "img" / f"{stem}.png")
        masks = read_npy(self.root / "onehotmask" / f"{stem}.npy", f"the mask stack of {stem}.png")
        if masks.ndim == 2:
            masks = masks[None]
        masks = masks > (127 if masks.dtype != bool and masks.max(initial=0) > 1 else 0)
        if masks.shape[1:] != image.shape[:2]:
            raise InputError(
                f"mask stack {stem}.npy has shape {masks.shape} but image {stem}.png is "
                f"{image.shape[0]}x{image.shape[1]}; regenerate the masks at image size"
            )
        return _finish(image, masks, [self.class_of(stem)] * masks.shape[0], stem)


class GeoTiffChips:
    """Square chips of a GeoTIFF scene holding label polygons from a vector file in any CRS.

    The scene is cut into a grid of ``chip_size_px`` chips (the last row/column padded with zeros beyond the
    raster); only chips that intersect a polygon are listed. Each polygon touching a chip becomes one mask,
    rasterised in the chip's own transform (pixels whose centre is inside); polygons cut by a chip edge keep
    their inside part.

    Args:
        raster: GeoTIFF (any raster GDAL reads) with a CRS.
        labels: vector file (GeoPackage, GeoJSON, Shapefile...) of polygons with a CRS.
        chip_size_px: chip side in raster pixels.
        class_column: attribute with the class name (absent: every object is ``object``).
        class_filter: which classes to keep.

    Raises:
        CRSError: the raster or the labels have no CRS.
        InputError: unreadable labels.
    """

    def __init__(
        self,
        raster: str | Path,
        labels: str | Path,
        chip_size_px: int = 512,
        class_column: str = "class",
        class_filter: ClassFilter | None = None,
    ) -> None:
        import pyproj
        import shapely
        from affine import Affine

        from rossam_geo.geo import reproject_geometries
        from rossam_geo.io import open_raster, read_vector_layer

        self.raster_path = str(raster)
        self.chip_size_px = int(chip_size_px)
        with open_raster(raster) as reader:
            self.info = reader.info
        if self.info.crs is None:
            raise CRSError(
                f"raster {self.raster_path!r} has no CRS; training chips need a georeferenced scene"
            )
        labels_path = Path(labels)
        if not labels_path.is_file():
            raise InputError(f"label file {str(labels_path)!r} does not exist; pass --labels with polygons")
        frame = read_vector_layer(labels_path)
        if frame.crs is None:
            raise CRSError(
                f"label file {str(labels_path)!r} has no CRS; assign one (e.g. with ogr2ogr -a_srs)"
            )
        keep = class_filter or ClassFilter()
        if class_column in frame.columns:
            names = [normalize_class(v) if v is not None else "object" for v in frame[class_column]]
        else:
            names = ["object"] * len(frame)
        geoms = reproject_geometries(
            list(frame.geometry), pyproj.CRS.from_user_input(frame.crs), self.info.crs
        )
        pairs = [
            (g, n)
            for g, n in zip(geoms, names, strict=True)
            if g is not None and not g.is_empty and g.area > 0 and keep(n)
        ]
        self.geometries = [g for g, _ in pairs]
        self.classes = [n for _, n in pairs]
        tree = shapely.STRtree(self.geometries)
        self.chips: list[tuple[int, int, np.ndarray]] = []
        t: Affine = self.info.transform
        size = self.chip_size_px
        for row in range(0, self.info.height, size):
            for col in range(0, self.info.width, size):
                corners = [
                    t * (col, row),
                    t * (col + size, row),
                    t * (col + size, row + size),
                    t * (col, row + size),
                ]
                chip = shapely.Polygon(corners)
                hits = tree.query(chip, predicate="intersects")
                # Polygons that only touch the chip, or cover less than a pixel of it, are left out.
                hits = np.array(
                    [k for k in hits if self.geometries[k].intersection(chip).area >= self.info.pixel_area],
                    dtype=int,
                )
                if len(hits):
                    self.chips.append((col, row, np.sort(hits)))
        self._reader: RasterReader | None = None

    def __len__(self) -> int:
        return len(self.chips)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None  # open rasters do not cross process boundaries
        return state

    def __getitem__(self, index: int) -> Sample:
        from rasterio.features import rasterize

        from rossam_geo.geo import window_transform
        from rossam_geo.io import open_raster

        if self._reader is None or self._reader.closed:
            self._reader = open_raster(self.raster_path)
        col, row, hits = self.chips[index]
        size = self.chip_size_px
        image, _ = self._reader.read_window_rgb(col, row, size, size)
        transform = window_transform(self.info.transform, col, row)
        masks = np.zeros((len(hits), size, size), dtype=bool)
        for i, k in enumerate(hits):
            masks[i] = (
                rasterize([(self.geometries[k], 1)], out_shape=(size, size), transform=transform, fill=0) > 0
            )
        classes = [self.classes[k] for k in hits]
        return _finish(image, masks, classes, f"{Path(self.raster_path).name}:{col},{row}")


class ImageChips:
    """Square chips of the images of another dataset (COCO, SAT-MTB), for images much larger than the model.

    Each chosen image is cut into a grid of ``chip_size_px`` chips (the last row/column padded with zeros);
    chips holding at least ``min_object_px`` pixels of some object are listed. Objects cut by a chip edge keep
    their inside part. The ``cached_images`` most recently read images are kept in memory.

    Args:
        source: the image dataset.
        chip_size_px: chip side in pixels.
        image_indexes: images of ``source`` to cut (default: all), e.g. one side of a train/validation split.
        min_object_px: smallest object part kept in a chip.
        cached_images: how many decoded images (with their masks) to keep in memory.
    """

    def __init__(
        self,
        source: SampleSource,
        chip_size_px: int,
        image_indexes: Sequence[int] | None = None,
        min_object_px: int = 4,
        cached_images: int = 2,
    ) -> None:
        self.source = source
        self.cached_images = max(1, int(cached_images))
        self.chip_size_px = int(chip_size_px)
        self.min_object_px = int(min_object_px)
        self.chips: list[tuple[int, int, int]] = []
        self._cache: dict[int, Sample] = {}
        size = self.chip_size_px
        for i in range(len(source)) if image_indexes is None else image_indexes:
            sample = self._sample(i)
            height, width = sample["image"].shape[:2]
            for row in range(0, height, size):
                for col in range(0, width, size):
                    inside = sample["masks"][:, row : row + size, col : col + size].sum(axis=(1, 2))
                    if (inside >= self.min_object_px).any():
                        self.chips.append((i, col, row))

    def _sample(self, index: int) -> Sample:
        if index not in self._cache:
            while len(self._cache) >= self.cached_images:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = self.source[index]
        return self._cache[index]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> Sample:
        i, col, row = self.chips[index]
        sample = self._sample(i)
        size = self.chip_size_px
        image = np.zeros((size, size, 3), dtype=np.uint8)
        part = sample["image"][row : row + size, col : col + size]
        image[: part.shape[0], : part.shape[1]] = part
        masks = np.zeros((sample["masks"].shape[0], size, size), dtype=bool)
        masks[:, : part.shape[0], : part.shape[1]] = sample["masks"][:, row : row + size, col : col + size]
        keep = masks.sum(axis=(1, 2)) >= self.min_object_px
        classes = [c for c, k in zip(sample["classes"], keep, strict=True) if k]
        return _finish(image, masks[keep], classes, f"{sample.get('image_id', i)}:{col},{row}")


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
