"""Training chips: square chips of a GeoTIFF scene with label polygons, or of another dataset's images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import CRSError, InputError
from rossam_geo.train.samples import ClassFilter, SampleSource, finish_sample, normalize_class
from rossam_geo.train.transforms import Sample

if TYPE_CHECKING:
    from rossam_geo.io import RasterReader

__all__ = ["GeoTiffChips", "ImageChips"]


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
        return finish_sample(image, masks, classes, f"{Path(self.raster_path).name}:{col},{row}")


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
        return finish_sample(image, masks[keep], classes, f"{sample.get('image_id', i)}:{col},{row}")
