"""Generators of tiny, deterministic geodata for tests.

Every raster generator writes pixels whose values encode their own position, so a test can check exactly
which source pixel landed where:

* uint8 rasters: band 1 = column + 1, band 2 = row + 1, band k >= 3 = 100 + k (constant per band). Value 0
  never occurs in generated data (it stays free for nodata and boundless fill); needs width, height <= 254.
* other dtypes: band k = (k - 1) * 20_000 + row * 100 + column + 1; needs width <= 99 (uint16 with 3 bands:
  height <= 250).

Import them from other test folders as ``from tests.geo.fakes import make_geotiff, position_array``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from affine import Affine

if TYPE_CHECKING:
    from rossam_geo.io import SceneInfo

#: UTM zone 33N; the default scene CRS of the fakes.
UTM33_CRS = "EPSG:32633"
#: 0.5 m pixels, upper-left corner at (500000 E, 5000000 N) in UTM 33N (about 45.1 N, 15.0 E).
UTM33_TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)
#: A custom Lambert azimuthal equal-area CRS centred on 45 N, 100 W (no EPSG code).
LAEA_PROJ = "+proj=laea +lat_0=45 +lon_0=-100 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
#: A custom transverse Mercator in US survey feet (for area-unit conversions).
TMERC_FT_PROJ = "+proj=tmerc +lat_0=40 +lon_0=-105 +k=0.9999 +x_0=0 +y_0=0 +ellps=GRS80 +units=us-ft +no_defs"


def position_array(height: int, width: int, count: int = 3, dtype: str = "uint8") -> np.ndarray:
    """Pixel values that encode their (band, row, column); see the module docstring.

    Returns:
        (count, height, width) array of ``dtype``.
    """
    rows, cols = np.mgrid[0:height, 0:width]
    bands = []
    for k in range(1, count + 1):
        if np.dtype(dtype) == np.uint8:
            if width > 254 or height > 254:
                raise ValueError("uint8 position rasters need width and height <= 254")
            band = cols + 1 if k == 1 else rows + 1 if k == 2 else np.full_like(rows, 100 + k)
        else:
            if width > 99:
                raise ValueError("non-uint8 position rasters need width <= 99")
            band = (k - 1) * 20_000 + rows * 100 + cols + 1
            if np.issubdtype(np.dtype(dtype), np.integer) and band.max() > np.iinfo(dtype).max:
                raise ValueError(f"{dtype} cannot hold position values up to {band.max()}")
        bands.append(band)
    return np.stack(bands).astype(dtype)


def exact_mean_pixels(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(3, height, width) uint8 pixels whose 2 x 2 blocks have integral means, and those means.

    Each block holds ``base + (0, 2, 1, 1)``, so its mean is ``base + 1`` with no rounding to argue about.
    """
    base = np.random.default_rng(seed).integers(1, 250, (3, height // 2, width // 2)).astype(np.uint8)
    offsets = np.tile(np.array([[0, 2], [1, 1]], np.uint8), (height // 2, width // 2))
    pixels = np.repeat(np.repeat(base, 2, axis=1), 2, axis=2) + offsets
    return pixels, base + 1


def make_geotiff(
    path: str | Path,
    *,
    crs: str | None = UTM33_CRS,
    width: int = 40,
    height: int = 30,
    count: int = 3,
    dtype: str = "uint8",
    nodata: float | None = None,
    transform: Affine | None = UTM33_TRANSFORM,
    data: np.ndarray | None = None,
    driver: str = "GTiff",
    overviews: Sequence[int] = (),
    **profile: object,
) -> Path:
    """Write a small raster (GeoTIFF by default) and return its path.

    Args:
        path: output file.
        crs: any pyproj/rasterio CRS input (EPSG code, PROJ string, WKT) or None for none.
        width, height, count, dtype: raster shape and type.
        nodata: nodata value recorded in the file (pixels are not changed; pass ``data`` for that).
        transform: pixel -> CRS affine; None writes no georeferencing.
        data: (count, height, width) pixels; default :func:`position_array`.
        driver: GDAL driver (``"GTiff"``, ``"PNG"``, ``"JPEG"``, ``"JP2OpenJPEG"``...).
        overviews: decimation factors of internal overviews to build (GeoTIFF only).
        **profile: extra creation options (``tiled=True``, ``blockxsize=16``...).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path)
    if data is None:
        data = position_array(height, width, count, dtype)
    count, height, width = data.shape
    meta: dict[str, object] = dict(
        driver=driver, width=width, height=height, count=count, dtype=str(data.dtype), **profile
    )
    if crs is not None:
        meta["crs"] = crs
    if transform is not None:
        meta["transform"] = transform
    if nodata is not None:
        meta["nodata"] = nodata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **meta) as dst:
            dst.write(data)
            if overviews:
                dst.build_overviews(list(overviews), Resampling.nearest)
    return path


def make_png(path: str | Path, *, width: int = 40, height: int = 30, count: int = 3) -> Path:
    """Write a plain (not georeferenced) uint8 PNG with position-encoding pixels."""
    return make_geotiff(path, crs=None, transform=None, width=width, height=height, count=count, driver="PNG")


def make_vector_prompts(
    path: str | Path,
    boxes_xyxy: np.ndarray | Sequence[Sequence[float]],
    *,
    crs: str | None = UTM33_CRS,
    layer: str | None = None,
    classes: Sequence[str | None] | None = None,
    extra: dict[str, Sequence[object]] | None = None,
    driver: str | None = None,
) -> Path:
    """Write boxes as rectangle polygons to a vector file (GPKG, GeoJSON, Shapefile by extension).

    A row of NaNs writes a feature without geometry.
    """
    import geopandas as gpd
    import shapely

    boxes = np.asarray(boxes_xyxy, dtype=float).reshape(-1, 4)
    geoms = [None if np.isnan(b).any() else shapely.box(*b) for b in boxes]
    columns: dict[str, object] = {}
    if classes is not None:
        columns["class"] = list(classes)
    for name, values in (extra or {}).items():
        columns[name] = list(values)
    gdf = gpd.GeoDataFrame(columns, geometry=geoms, crs=crs)
    kwargs: dict[str, object] = {}
    if layer is not None:
        kwargs["layer"] = layer
    if driver is not None:
        kwargs["driver"] = driver
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        gdf.to_file(path, engine="pyogrio", **kwargs)
    return Path(path)


def make_csv_prompts(
    path: str | Path,
    boxes_xyxy: np.ndarray | Sequence[Sequence[float]],
    *,
    classes: Sequence[str] | None = None,
    image_names: Sequence[str] | None = None,
    columns: tuple[str, str, str, str] = ("xmin", "ymin", "xmax", "ymax"),
) -> Path:
    """Write boxes to a CSV with one row per box (optional ``label`` and ``image_path`` columns)."""
    boxes = np.asarray(boxes_xyxy, dtype=float).reshape(-1, 4)
    header = list(columns)
    if image_names is not None:
        header = ["image_path", *header]
    if classes is not None:
        header.append("label")
    lines = [",".join(header)]
    for i, box in enumerate(boxes):
        cells = [repr(float(v)) for v in box]
        if image_names is not None:
            cells = [image_names[i], *cells]
        if classes is not None:
            cells.append(classes[i])
        lines.append(",".join(cells))
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def make_coco_json(
    path: str | Path,
    images: Sequence[tuple[int, str, int, int]],
    annotations: Sequence[tuple[int, int, Sequence[float], int]],
    categories: Sequence[tuple[int, str]],
) -> Path:
    """Write a COCO instances file.

    Args:
        images: (image id, file name, width, height).
        annotations: (annotation id, image id, bbox xywh in pixels, category id).
        categories: (category id, name).
    """
    doc = {
        "images": [{"id": i, "file_name": f, "width": w, "height": h} for i, f, w, h in images],
        "annotations": [
            {
                "id": a,
                "image_id": img,
                "bbox": list(bbox),
                "category_id": cat,
                "area": float(bbox[2] * bbox[3]) if len(bbox) == 4 else 0.0,
                "iscrowd": 0,
            }
            for a, img, bbox, cat in annotations
        ],
        "categories": [{"id": c, "name": n} for c, n in categories],
    }
    Path(path).write_text(json.dumps(doc))
    return Path(path)


def make_scene_info(
    crs: str | None = UTM33_CRS,
    transform: Affine = UTM33_TRANSFORM,
    *,
    width: int = 1000,
    height: int = 1000,
    count: int = 3,
    dtype: str = "uint8",
    name: str = "scene.tif",
) -> SceneInfo:
    """A :class:`~rossam_geo.io.SceneInfo` built without a file (crs None: identity transform)."""
    import pyproj

    from rossam_geo.io import SceneInfo

    return SceneInfo(
        path=name,
        name=name,
        crs=None if crs is None else pyproj.CRS.from_user_input(crs),
        transform=transform if crs is not None else Affine.identity(),
        width=width,
        height=height,
        count=count,
        dtype=dtype,
        nodata=None,
    )


def sql_content(path: str | Path) -> str:
    """Every row of an SQLite file (a GeoPackage) as SQL text, read without writing: two files with the same
    content give the same text, whatever SQLite's change counters say."""
    import sqlite3

    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()
