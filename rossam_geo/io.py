"""Reading scenes and prompt boxes, writing GeoPackages: the only module of rossam_geo that opens paths.

Rasters are read through rasterio, window by window (plus one decimated read per raster for the contrast
stretch); prompts through geopandas/pyogrio, the csv module, or JSON for COCO files; outputs are written to a
temporary file in the destination folder and moved into place with :func:`os.replace`.

Pixel convention (rasterio's): x right (columns), y down (rows); pixel (col, row) covers
[col, col + 1) x [row, row + 1).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyproj
from affine import Affine

from rossam_geo.errors import CRSError, InputError, OutputExistsError, PromptError, RasterError

if TYPE_CHECKING:
    import geopandas
    import rasterio.io

__all__ = [
    "PromptSet",
    "RasterReader",
    "SceneInfo",
    "Stretch",
    "open_raster",
    "read_prompts",
    "write_features",
]

#: Column names searched (case-insensitively) for the object class when no class field is given.
CLASS_FIELD_CANDIDATES = ("class", "label", "category", "class_name")
#: CSV columns naming the image a row belongs to (matched against ``scene_name``).
IMAGE_FIELD_CANDIDATES = ("image_path", "image", "file_name", "filename", "image_name")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
SUPPORTED_PROMPT_FORMATS = (
    "GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp), FlatGeobuf (.fgb), "
    "CSV (.csv with xmin,ymin,xmax,ymax columns), COCO JSON (.json)"
)


# --------------------------------------------------------------------------------------------------- rasters


@dataclass(frozen=True)
class SceneInfo:
    """What the pipeline needs to know about a raster, without its pixels.

    Attributes:
        path: the path as given.
        name: the file name (for COCO matching and output attributes).
        crs: the scene CRS; None when the raster has no CRS (plain PNG/JPEG frames, GCP- or RPC-only files).
        transform: pixel -> scene CRS affine; the identity when ``crs`` is None, so that "map" coordinates are
            pixel coordinates with y down.
        width, height: raster size in pixels.
        count: number of bands.
        dtype: numpy dtype name of band 1.
        nodata: the nodata value, or None.
    """

    path: str
    name: str
    crs: pyproj.CRS | None
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None

    @property
    def georeferenced(self) -> bool:
        """True when the scene has a CRS (and so a meaningful transform)."""
        return self.crs is not None

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in squared scene-CRS units (1.0 when not georeferenced)."""
        return abs(self.transform.determinant)


@dataclass(frozen=True)
class Stretch:
    """Per-band linear map to uint8: ``(v - low) / (high - low) * 255``, rounded and clipped to 0..255.

    Attributes:
        low, high: one value per band of the arrays it is applied to; a single value applies to every band.
            Empty tuples mean "no stretch": values are clipped to 0..255 as they are.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.low) != len(self.high):
            raise InputError(
                f"stretch needs as many low as high values, got low={self.low} and high={self.high}"
            )

    @classmethod
    def identity(cls) -> Stretch:
        """The stretch that leaves uint8 values unchanged."""
        return cls(low=(), high=())

    @property
    def is_identity(self) -> bool:
        """True for :meth:`identity`."""
        return not self.low

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Map a (bands, h, w) array of any numeric dtype to uint8 of the same shape; NaN maps to 0."""
        if array.ndim != 3:
            raise InputError(f"stretch applies to (bands, height, width) arrays, got shape {array.shape}")
        if self.is_identity:
            if array.dtype == np.uint8:
                return array.copy()
            return np.clip(np.nan_to_num(array, nan=0.0), 0, 255).round().astype(np.uint8)
        n_bands = array.shape[0]
        if len(self.low) not in (1, n_bands):
            raise InputError(
                f"stretch has {len(self.low)} band values but the array has {n_bands} bands; "
                "compute the stretch for the same bands"
            )
        low = np.asarray(self.low, dtype=np.float64).reshape(-1, 1, 1)
        high = np.asarray(self.high, dtype=np.float64).reshape(-1, 1, 1)
        span = np.where(high > low, high - low, 1.0)
        scaled = (array.astype(np.float64) - low) / span * 255.0
        return np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round().astype(np.uint8)


class RasterReader:
    """An open raster; reads pixel windows as model-ready uint8 RGB. Create it with :func:`open_raster`.

    Use it as a context manager, or call :meth:`close`.

    Attributes:
        info: the scene's :class:`SceneInfo`.
    """

    def __init__(self, dataset: rasterio.io.DatasetReader, info: SceneInfo) -> None:
        self._dataset = dataset
        self.info = info
        self._stretch_cache: dict[tuple[float, ...], Stretch] = {}
        self._default_rgb = _labelled_rgb_bands(dataset)

    def __enter__(self) -> RasterReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying dataset (idempotent)."""
        self._dataset.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return bool(self._dataset.closed)

    def resolve_bands(self, bands: Sequence[int] | None = None) -> tuple[int, int, int]:
        """The three 1-based band indexes that make the R, G, B channels.

        Args:
            bands: None for the default (1 band: replicated; 3 or more bands: the bands labelled red, green
                and blue in the file, e.g. 3, 2, 1 for a blue-green-red-NIR image, else 1, 2, 3), or 1 or 3
                indexes.

        Raises:
            RasterError: for 2-band rasters without ``bands``, a wrong number of bands or an index out of
                range.
        """
        count = self.info.count
        if bands is None:
            if count == 1:
                return (1, 1, 1)
            if count == 2:
                raise RasterError(
                    f"raster {self.info.name!r} has 2 bands; choose the bands to use, e.g. --bands 1 "
                    "(one band as gray) or --bands 1,2,1"
                )
            return self._default_rgb
        selected = tuple(int(b) for b in bands)
        if len(selected) not in (1, 3):
            raise RasterError(
                f"bands must be 1 band index (gray) or 3 (red, green, blue), got {list(selected)}"
            )
        bad = [b for b in selected if not 1 <= b <= count]
        if bad:
            raise RasterError(
                f"band index {bad[0]} is out of range for raster {self.info.name!r} with {count} band(s); "
                f"use indexes 1 to {count}"
            )
        if len(selected) == 1:
            return (selected[0],) * 3
        return (selected[0], selected[1], selected[2])

    def read_window_rgb(
        self,
        col_off: int,
        row_off: int,
        width: int,
        height: int,
        bands: Sequence[int] | None = None,
        stretch: Stretch | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read a pixel window that may extend beyond the raster.

        Only the part inside the raster is read; the rest is filled with 0. Pixels without data (nodata or NaN
        in every selected band, or masked by a mask band or alpha) are also set to 0 and marked invalid.

        Args:
            col_off, row_off: pixel position of the window's upper-left corner (may be negative).
            width, height: window size in pixels (>= 1).
            bands: 1-based band indexes, see :meth:`resolve_bands`.
            stretch: map to uint8 for the selected bands; default: none for uint8 rasters, the raster's
                percentile stretch (:meth:`compute_stretch`, computed once and cached) for other types.

        Returns:
            (rgb_u8, valid): (height, width, 3) uint8 and (height, width) bool, True inside the raster where
            the pixel holds data.
        """
        col_off, row_off, width, height = int(col_off), int(row_off), int(width), int(height)
        if width < 1 or height < 1:
            raise InputError(f"window size must be at least 1x1 pixels, got {width}x{height}")
        indexes = self.resolve_bands(bands)
        if stretch is None and self.info.dtype != "uint8":
            stretch = self.compute_stretch(indexes)
        rgb = np.zeros((3, height, width), dtype=np.uint8)
        valid = np.zeros((height, width), dtype=bool)
        c0, r0 = max(col_off, 0), max(row_off, 0)
        c1, r1 = min(col_off + width, self.info.width), min(row_off + height, self.info.height)
        if c1 <= c0 or r1 <= r0:
            return rgb.transpose(1, 2, 0).copy(), valid
        from rasterio.windows import Window

        unique = sorted(set(indexes))
        data = self._dataset.read(unique, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        data = data[[unique.index(b) for b in indexes]]
        values = np.ma.getdata(data)
        missing = np.ma.getmaskarray(data)
        if np.issubdtype(values.dtype, np.floating):
            missing = missing | ~np.isfinite(values)
        # as GDAL's dataset mask: a pixel holds data unless every band is nodata
        invalid = missing.all(axis=0)
        inside_u8 = (stretch or Stretch.identity()).apply(values)
        inside_u8[:, invalid] = 0
        rs, cs = slice(r0 - row_off, r1 - row_off), slice(c0 - col_off, c1 - col_off)
        rgb[:, rs, cs] = inside_u8
        valid[rs, cs] = ~invalid
        return np.ascontiguousarray(rgb.transpose(1, 2, 0)), valid

    def compute_stretch(
        self,
        bands: Sequence[int] | None = None,
        percentiles: tuple[float, float] = (2.0, 98.0),
        max_side_px: int = 1024,
    ) -> Stretch:
        """Per-band percentile stretch from one decimated read of the whole raster.

        The read asks for an ``out_shape`` whose longer side is at most ``max_side_px``, so GDAL serves it
        from overviews when the file has them. Nodata, masked and NaN pixels are ignored.

        Args:
            bands: band selection as for :meth:`read_window_rgb`.
            percentiles: (low, high) percentiles in 0..100 mapped to 0 and 255.
            max_side_px: longer side of the decimated read in pixels.

        Returns:
            The identity stretch for uint8 rasters; otherwise a stretch with one (low, high) per selected band
            (3 values).
        """
        indexes = self.resolve_bands(bands)
        p_low, p_high = (float(p) for p in percentiles)
        if not 0.0 <= p_low < p_high <= 100.0:
            raise InputError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        if max_side_px < 1:
            raise InputError(f"max_side_px must be >= 1, got {max_side_px}")
        if self.info.dtype == "uint8":
            return Stretch.identity()
        key = (*indexes, p_low, p_high, max_side_px)
        if key in self._stretch_cache:
            return self._stretch_cache[key]
        scale = min(1.0, max_side_px / max(self.info.width, self.info.height))
        out_h = max(1, round(self.info.height * scale))
        out_w = max(1, round(self.info.width * scale))
        unique = sorted(set(indexes))
        data = self._dataset.read(unique, out_shape=(len(unique), out_h, out_w), masked=True)
        low: list[float] = []
        high: list[float] = []
        for b in indexes:
            band = data[unique.index(b)]
            values = band.compressed().astype(np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                lo, hi = 0.0, 1.0
            else:
                lo, hi = (float(v) for v in np.percentile(values, [p_low, p_high]))
            low.append(lo)
            high.append(hi if hi > lo else lo + 1.0)
        stretch = Stretch(low=tuple(low), high=tuple(high))
        self._stretch_cache[key] = stretch
        return stretch


def _labelled_rgb_bands(dataset: rasterio.io.DatasetReader) -> tuple[int, int, int]:
    """1-based indexes of the bands whose colour interpretation is red, green and blue; else (1, 2, 3)."""
    from rasterio.enums import ColorInterp

    labels = list(dataset.colorinterp)
    wanted = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if all(label in labels for label in wanted):
        red, green, blue = (labels.index(label) + 1 for label in wanted)
        return (red, green, blue)
    return (1, 2, 3)


def open_raster(path: str | Path) -> RasterReader:
    """Open a raster that GDAL can read (GeoTIFF, COG, VRT, JPEG 2000, PNG, JPEG...).

    Plain PNG/JPEG frames without georeferencing open without a warning, with ``crs=None`` and the identity
    transform.

    Raises:
        RasterError: when the file is missing or GDAL cannot open it.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path_str = str(path)
    if "://" not in path_str and not path_str.startswith("/vsi") and not Path(path_str).exists():
        raise RasterError(f"raster {path_str!r} does not exist; check the path")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            dataset = rasterio.open(path_str)
        except RasterioIOError as exc:
            raise RasterError(
                f"cannot open raster {path_str!r} ({exc}); use a format GDAL reads, such as GeoTIFF, COG, "
                "VRT, JPEG 2000, PNG or JPEG"
            ) from exc
        crs = pyproj.CRS.from_user_input(dataset.crs.to_wkt()) if dataset.crs else None
        transform = dataset.transform if crs is not None else Affine.identity()
    info = SceneInfo(
        path=path_str,
        name=Path(path_str).name,
        crs=crs,
        transform=transform,
        width=dataset.width,
        height=dataset.height,
        count=dataset.count,
        dtype=str(dataset.dtypes[0]),
        nodata=None if dataset.nodata is None else float(dataset.nodata),
    )
    return RasterReader(dataset, info)


# --------------------------------------------------------------------------------------------------- prompts


@dataclass
class PromptSet:
    """Prompt boxes read from one source.

    Attributes:
        ids: one id per box: the feature id (fid) for vector files, the 1-based data row for CSV, the
            annotation id for COCO.
        boxes_xyxy: (N, 4) float64 XYXY in ``crs`` units, or in scene pixels when ``crs`` is None. Rows whose
            geometry or values are missing are NaN, so they can be reported per item.
        crs: the boxes' CRS; None means pixel coordinates of the scene.
        classes: one class name (or None) per box.
        attributes: other source attributes per box, as JSON-compatible Python values.
        source: the path the boxes were read from.
    """

    ids: list[str | int]
    boxes_xyxy: np.ndarray
    crs: pyproj.CRS | None
    classes: list[str | None]
    attributes: list[dict] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)


def read_prompts(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | pyproj.CRS | None = None,
    class_field: str | None = None,
    scene_name: str | None = None,
    pixel: bool = False,
) -> PromptSet:
    """Read prompt boxes from a vector file, a CSV or a COCO JSON file.

    * Vector files (GeoPackage, GeoJSON, Shapefile, FlatGeobuf): each feature's envelope, in the file's CRS.
      Features without geometry (or with an empty one) are kept with a NaN box.
    * CSV: columns xmin, ymin, xmax, ymax (any case); needs ``crs`` or ``pixel``. When the file has an image
      column (``image_path``, ``file_name``...) and ``scene_name`` is given, only that image's rows are read.
    * COCO JSON: the boxes (xywh pixels) of the image whose file name matches ``scene_name`` (or of the only
      image), as XYXY pixels; ids are annotation ids and classes are category names.

    Args:
        path: the prompt file.
        layer: layer to read from a multi-layer file (GeoPackage); required when it has several layers.
        crs: CRS of the box coordinates (any pyproj input, e.g. ``"EPSG:4326"``): required for CSV and for
            vector files without a CRS; a vector file's own CRS must agree with it.
        class_field: attribute holding the class name; default: the first of ``class``, ``label``,
            ``category``, ``class_name`` present.
        scene_name: file name of the scene, to pick its rows in COCO and multi-image CSV files.
        pixel: the coordinates are scene pixels (x right, y down); the result has ``crs=None``.

    Raises:
        PromptError: missing file, unknown format, missing columns, layers or images.
        CRSError: an invalid ``crs``, a file without a CRS and neither ``crs`` nor ``pixel``, or a ``crs``
            that contradicts the file's.
    """
    path = Path(path)
    if not path.exists():
        raise PromptError(f"prompt file {str(path)!r} does not exist; check the path")
    if pixel and crs is not None:
        raise PromptError(f"pass either a prompt CRS ({crs!r}) or pixel coordinates, not both")
    override_crs = _parse_crs(crs) if crs is not None else None
    suffix = path.suffix.lower()
    if suffix == ".json":
        doc = _load_json(path)
        if isinstance(doc, dict) and "annotations" in doc and "images" in doc:
            if override_crs is not None:
                raise PromptError(f"COCO boxes are in pixels; drop the prompt CRS {crs!r} for {path.name!r}")
            return _read_coco(doc, path, scene_name=scene_name)
    if suffix == ".csv":
        return _read_csv(path, crs=override_crs, pixel=pixel, class_field=class_field, scene_name=scene_name)
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path, layer=layer, crs=override_crs, pixel=pixel, class_field=class_field)
    raise PromptError(
        f"unsupported prompt format {suffix or '(no extension)'!r} for {path.name!r}; supported: "
        f"{SUPPORTED_PROMPT_FORMATS}"
    )


def _parse_crs(crs: str | pyproj.CRS) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {crs!r}; give an EPSG code (EPSG:4326), a PROJ string or WKT") from exc


def _load_json(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise PromptError(f"cannot read JSON prompt file {path.name!r}: {exc}") from exc


def _find_column(
    columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str
) -> str | None:
    by_lower = {c.lower(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.lower() in by_lower:
            return by_lower[wanted.lower()]
        raise PromptError(f"{what} {wanted!r} not found; available columns: {', '.join(columns) or '(none)'}")
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    return None


def _py_value(value: Any) -> Any:
    """A JSON-compatible Python value (None for missing)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _class_value(value: Any) -> str | None:
    value = _py_value(value)
    return None if value is None or value == "" else str(value)


def _read_vector(
    path: Path, *, layer: str | None, crs: pyproj.CRS | None, pixel: bool, class_field: str | None
) -> PromptSet:
    import pyogrio

    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # pyogrio raises DataSourceError and others, no common base
        raise PromptError(f"cannot read prompt file {path.name!r}: {exc}") from exc
    if layer is None and len(layers) > 1:
        raise PromptError(
            f"{path.name!r} has {len(layers)} layers ({', '.join(layers)}); choose one with --layer"
        )
    if layer is not None and layer not in layers:
        raise PromptError(
            f"layer {layer!r} not found in {path.name!r}; available layers: {', '.join(layers)}"
        )
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)
    except Exception as exc:  # pyogrio raises DataSourceError and others, no common base
        raise PromptError(f"cannot read prompt file {path.name!r}: {exc}") from exc
    if not hasattr(gdf, "geometry"):
        raise PromptError(
            f"layer {layer or layers[0]!r} of {path.name!r} has no geometry; "
            "give a layer of boxes or polygons"
        )
    geometry = gdf.geometry
    boxes = np.full((len(gdf), 4), np.nan, dtype=np.float64)
    if len(gdf):
        present = ~(geometry.isna() | geometry.is_empty).to_numpy()
        boxes[present] = geometry[present].bounds.to_numpy(dtype=np.float64)
    class_col = _find_column(
        [c for c in gdf.columns if c != gdf.geometry.name], class_field, CLASS_FIELD_CANDIDATES, "class field"
    )
    attr_cols = [c for c in gdf.columns if c not in (gdf.geometry.name, class_col)]
    records = gdf[attr_cols].to_dict("records") if attr_cols else [{} for _ in range(len(gdf))]
    file_crs = None if gdf.crs is None else pyproj.CRS.from_user_input(gdf.crs)
    box_crs: pyproj.CRS | None
    if pixel:
        box_crs = None
    elif file_crs is None:
        if crs is None:
            raise CRSError(
                f"prompt file {path.name!r} has no CRS; pass --prompts-crs (e.g. EPSG:4326) or --pixel"
            )
        box_crs = crs
    else:
        if crs is not None and not file_crs.equals(crs, ignore_axis_order=True):
            raise CRSError(
                f"prompt file {path.name!r} is in {file_crs.name!r} but the prompt CRS given is "
                f"{crs.name!r}; drop --prompts-crs (the file's own CRS is used) or reproject the file"
            )
        box_crs = file_crs
    return PromptSet(
        ids=[_py_value(i) for i in gdf.index],
        boxes_xyxy=boxes,
        crs=box_crs,
        classes=[_class_value(v) for v in gdf[class_col]] if class_col else [None] * len(gdf),
        attributes=[{k: _py_value(v) for k, v in r.items()} for r in records],
        source=str(path),
    )


def _to_float(text: str | None) -> float:
    try:
        return float(text) if text is not None and text.strip() != "" else math.nan
    except ValueError:
        return math.nan


def _read_csv(
    path: Path, *, crs: pyproj.CRS | None, pixel: bool, class_field: str | None, scene_name: str | None
) -> PromptSet:
    if crs is None and not pixel:
        raise CRSError(
            f"CSV prompt file {path.name!r} has no CRS; pass --prompts-crs (e.g. EPSG:32633) or --pixel"
        )
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c for c in (reader.fieldnames or []) if c is not None]
        rows = list(reader)
    box_cols = [_find_column(columns, name, (), "box column") for name in ("xmin", "ymin", "xmax", "ymax")]
    class_col = _find_column(columns, class_field, CLASS_FIELD_CANDIDATES, "class field")
    image_col = _find_column(columns, None, IMAGE_FIELD_CANDIDATES, "image column")
    numbered = list(enumerate(rows, start=1))
    if image_col is not None and scene_name is not None:
        numbered = [(i, r) for i, r in numbered if _same_file(r.get(image_col) or "", scene_name)]
    skip = {*box_cols, class_col}
    boxes = np.array(
        [[_to_float(r.get(c)) for c in box_cols] for _, r in numbered], dtype=np.float64
    ).reshape(-1, 4)
    return PromptSet(
        ids=[i for i, _ in numbered],
        boxes_xyxy=boxes,
        crs=None if pixel else crs,
        classes=[_class_value(r.get(class_col)) if class_col else None for _, r in numbered],
        attributes=[{k: v for k, v in r.items() if k not in skip and k is not None} for _, r in numbered],
        source=str(path),
    )


def _same_file(candidate: str, scene_name: str) -> bool:
    return candidate == scene_name or Path(candidate.replace("\\", "/")).name == Path(scene_name).name


def _read_coco(doc: dict, path: Path, *, scene_name: str | None) -> PromptSet:
    images = doc.get("images") or []
    if scene_name is None:
        if len(images) != 1:
            raise PromptError(
                f"COCO file {path.name!r} has {len(images)} images; pass the scene so its boxes can be "
                "matched by file name"
            )
        image = images[0]
    else:
        matches = [im for im in images if _same_file(str(im.get("file_name", "")), scene_name)]
        if not matches:
            names = ", ".join(str(im.get("file_name")) for im in images[:5])
            more = ", ..." if len(images) > 5 else ""
            raise PromptError(
                f"no image named {Path(scene_name).name!r} in COCO file {path.name!r} "
                f"(images: {names}{more}); check the scene file name"
            )
        image = matches[0]
    categories = {c.get("id"): c.get("name") for c in doc.get("categories") or []}
    anns = [a for a in doc.get("annotations") or [] if a.get("image_id") == image.get("id")]
    boxes = np.full((len(anns), 4), np.nan, dtype=np.float64)
    for i, ann in enumerate(anns):
        bbox = ann.get("bbox")
        if isinstance(bbox, (list, tuple)) and len(bbox) == 4:
            x, y, w, h = (_to_float(str(v)) for v in bbox)
            boxes[i] = (x, y, x + w, y + h)
    attributes = [
        {k: _py_value(ann.get(k)) for k in ("image_id", "category_id", "iscrowd", "area") if k in ann}
        for ann in anns
    ]
    return PromptSet(
        ids=[ann.get("id", i) for i, ann in enumerate(anns)],
        boxes_xyxy=boxes,
        crs=None,
        classes=[_class_value(categories.get(ann.get("category_id"))) for ann in anns],
        attributes=attributes,
        source=str(path),
    )


# --------------------------------------------------------------------------------------------------- outputs


def write_features(
    gdf: geopandas.GeoDataFrame,
    path: str | Path,
    *,
    layer: str,
    mode: Literal["create", "overwrite", "append"] = "create",
) -> None:
    """Write features to a GeoPackage layer atomically.

    The data are written to a temporary file in the destination folder, which then replaces ``path`` with
    :func:`os.replace`; readers never see a half-written file and a failure leaves the old file untouched.
    Polygonal layers (masks, also when empty) are written as MultiPolygon so that appends keep one type.

    Args:
        gdf: features to write (empty and missing geometries allowed), in ``gdf.crs``.
        path: the ``.gpkg`` file.
        layer: layer name.
        mode: ``"create"``: fail if the file exists; ``"overwrite"``: replace the whole file; ``"append"``:
            add the rows to ``layer`` (created if missing) of the existing file, keeping its other layers.

    Raises:
        OutputExistsError: ``mode="create"`` and the file exists.
        InputError: a wrong mode or extension, a missing folder, or rows that do not fit the existing layer.
        CRSError: appending features whose CRS differs from the existing layer's.
    """
    import pyogrio

    path = Path(path)
    if mode not in ("create", "overwrite", "append"):
        raise InputError(f"write mode must be 'create', 'overwrite' or 'append', got {mode!r}")
    if path.suffix.lower() != ".gpkg":
        raise InputError(f"output {str(path)!r} must be a GeoPackage with the .gpkg extension")
    if not path.parent.is_dir():
        raise InputError(f"output folder {str(path.parent)!r} does not exist; create it first")
    if path.exists() and mode == "create":
        raise OutputExistsError(
            f"output {str(path)!r} exists; use --overwrite to replace it or --append to add to it"
        )
    appending = mode == "append" and path.exists()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        tmp_path = tmp_dir / path.name
        layer_exists = False
        if appending:
            shutil.copy2(path, tmp_path)
            layer_exists = layer in [str(n) for n in pyogrio.list_layers(tmp_path)[:, 0]]
            if layer_exists:
                _check_append_crs(pyogrio.read_info(tmp_path, layer=layer).get("crs"), gdf.crs, path, layer)
        geom_types = set(gdf.geometry.dropna().geom_type)
        polygonal = geom_types <= {"Polygon", "MultiPolygon"}
        try:
            pyogrio.write_dataframe(
                gdf,
                tmp_path,
                layer=layer,
                driver="GPKG",
                append=layer_exists,
                promote_to_multi=True if polygonal else None,
                geometry_type="MultiPolygon" if polygonal else None,
            )
        except Exception as exc:  # pyogrio raises several unrelated error types
            raise InputError(f"cannot write layer {layer!r} to {str(path)!r}: {exc}") from exc
        os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _check_append_crs(existing: str | None, new: object, path: Path, layer: str) -> None:
    existing_crs = pyproj.CRS.from_user_input(existing) if existing else None
    new_crs = pyproj.CRS.from_user_input(new) if new is not None else None
    if (existing_crs is None) != (new_crs is None) or (
        existing_crs is not None
        and new_crs is not None
        and not existing_crs.equals(new_crs, ignore_axis_order=True)
    ):
        raise CRSError(
            f"cannot append features in {new_crs.name if new_crs else 'no CRS'} to layer {layer!r} of "
            f"{str(path)!r} in {existing_crs.name if existing_crs else 'no CRS'}; write them in the layer's "
            "CRS or to another layer or file"
        )
