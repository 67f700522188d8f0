"""Prompt boxes: read from vector files (GeoPackage, GeoJSON, Shapefile, FlatGeobuf), CSV or COCO JSON.

Vector files are read through pyogrio, CSV files through the csv module, COCO files as JSON. Boxes stay in the
coordinates of their source (a CRS, or scene pixels); reprojection is :mod:`rossam_geo.geo`'s work.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj

from rossam_geo.errors import CRSError, PromptError
from rossam_geo.io.documents import read_json
from rossam_geo.io.layers import layer_names

if TYPE_CHECKING:
    from rossam_geo.io.prompt_points import PromptPoints

__all__ = [
    "CLASS_FIELD_CANDIDATES",
    "IMAGE_FIELD_CANDIDATES",
    "SUPPORTED_PROMPT_FORMATS",
    "VECTOR_SUFFIXES",
    "PromptSet",
    "prompt_layer",
    "read_prompts",
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
        layer: the layer of a vector file they were read from (None for CSV, COCO and values).
        points: clicks that refine the boxes, aligned with them (None: none; see
            :mod:`rossam_geo.io.prompt_points`).
    """

    ids: list[str | int]
    boxes_xyxy: np.ndarray
    crs: pyproj.CRS | None
    classes: list[str | None]
    attributes: list[dict] = field(default_factory=list)
    source: str = ""
    layer: str | None = None
    points: PromptPoints | None = None

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
        doc = read_json(path, "a JSON prompt file (COCO or GeoJSON)", PromptError)
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


def prompt_layer(path: str | Path, layer: str | None = None) -> str | None:
    """The layer that :func:`read_prompts` reads from ``path``: ``layer``, or the only layer of a vector
    file; None for other files (CSV, COCO) and for files it cannot read (it reports those itself)."""
    path = Path(path)
    if path.suffix.lower() not in VECTOR_SUFFIXES or not path.is_file():
        return None
    if layer is not None:
        return layer
    try:
        layers = layer_names(path)
    except Exception:  # noqa: BLE001 - an unreadable file is reported when the prompts are read
        return None
    return layers[0] if len(layers) == 1 else None


def _parse_crs(crs: str | pyproj.CRS) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {crs!r}; give an EPSG code (EPSG:4326), a PROJ string or WKT") from exc


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
        layers = layer_names(path)
    except Exception as exc:  # pyogrio raises DataSourceError and others, no common base
        raise PromptError(f"cannot read prompt file {path.name!r}: {exc}") from exc
    if layer is None and len(layers) > 1:
        raise PromptError(
            f"{path.name!r} has {len(layers)} layers ({', '.join(layers)}); choose one with --prompt-layer"
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
        layer=layer or layers[0],
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
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c for c in (reader.fieldnames or []) if c is not None]
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise PromptError(
            f"CSV prompt file {path.name!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"position {exc.start}); save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise PromptError(f"cannot read CSV prompt file {path.name!r}: {exc}; check its format") from None
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
