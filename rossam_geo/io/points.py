"""Clicks that refine prompt boxes, read from a file: a point layer or a CSV, each point with the id of the
prompt it refines and a label (1 on the object, 0 off it).

* Vector files (GeoPackage, GeoJSON, Shapefile, FlatGeobuf): point features (a multipoint gives each of its
  points) in the file's CRS, with fields ``prompt_id`` and ``label``.
* CSV: columns ``prompt_id``, ``x``, ``y`` and ``label`` (any case), in the prompts' own coordinates.

Values are returned as read; :mod:`rossam_geo.segmentation.points` checks them and joins them to the prompts.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj

from rossam_geo.errors import PromptError
from rossam_geo.io.layers import layer_names
from rossam_geo.io.prompts import VECTOR_SUFFIXES

__all__ = ["POINT_FIELDS", "PointTable", "read_points"]

#: the fields of a points file, besides the point itself.
POINT_FIELDS = ("prompt_id", "label")


@dataclass(frozen=True)
class PointTable:
    """Points read from a file, one row per point, in file order.

    Attributes:
        prompt_ids: the ``prompt_id`` of each point, as read (int, float or text).
        xy: (K, 2) float64 XY in ``crs`` (NaN where a row had no usable point).
        labels: the ``label`` of each point, as read.
        crs: the file's CRS; None for CSV files (the prompts' coordinates) and vector files without one.
        source: the file's name, for messages.
        rows: where each point is, for messages: ``"row 3"`` (1-based data row of a CSV) or ``"feature 7"``
            (feature id of a vector file).
    """

    prompt_ids: list[Any]
    xy: np.ndarray
    labels: list[Any]
    crs: pyproj.CRS | None
    source: str
    rows: list[str]


def read_points(path: str | Path) -> PointTable:
    """Read the clicks of a points file (see the module docstring).

    Raises:
        PromptError: missing or unreadable file, an unsupported format, several layers, missing fields, or
            features that are not points.
    """
    path = Path(path)
    if not path.is_file():
        raise PromptError(f"points file {str(path)!r} does not exist; check the path")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path)
    raise PromptError(
        f"unsupported points file {path.name!r}; give a point layer (.gpkg, .geojson, .shp, .fgb) or a CSV "
        "with prompt_id, x, y and label columns"
    )


def _column(columns: list[str], name: str, path: Path) -> str:
    by_lower = {c.lower(): c for c in columns}
    if name not in by_lower:
        raise PromptError(
            f"points file {path.name!r} has no {name!r} field (columns: {', '.join(columns) or 'none'}); "
            "each point needs prompt_id (the box it refines) and label (1 on the object, 0 off it)"
        )
    return by_lower[name]


def _read_csv(path: Path) -> PointTable:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c for c in (reader.fieldnames or []) if c is not None]
        rows = list(reader)
    ids, x, y, labels = (_column(columns, name, path) for name in ("prompt_id", "x", "y", "label"))
    xy = np.full((len(rows), 2), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        try:
            xy[i] = (float(row[x]), float(row[y]))
        except (TypeError, ValueError):
            continue
    return PointTable(
        prompt_ids=[row[ids] for row in rows],
        xy=xy,
        labels=[row[labels] for row in rows],
        crs=None,
        source=path.name,
        rows=[f"row {i}" for i in range(1, len(rows) + 1)],
    )


def _read_vector(path: Path) -> PointTable:
    import pyogrio

    try:
        layers = layer_names(path)
        if len(layers) > 1:
            raise PromptError(
                f"points file {path.name!r} has {len(layers)} layers ({', '.join(layers)}); give a file with "
                "one point layer"
            )
        gdf = pyogrio.read_dataframe(path, fid_as_index=True)
    except PromptError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError and others, no common base
        raise PromptError(f"cannot read points file {path.name!r}: {exc}") from exc
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    ids, labels = (_column(columns, name, path) for name in POINT_FIELDS)
    parts = gdf.explode(index_parts=False)  # a multipoint gives each of its points, with its fields
    kinds = set(parts.geometry.dropna().geom_type)
    if kinds - {"Point"}:
        raise PromptError(
            f"points file {path.name!r} holds {', '.join(sorted(kinds - {'Point'}))} features; give points"
        )
    present = ~(parts.geometry.isna() | parts.geometry.is_empty).to_numpy()
    xy = np.full((len(parts), 2), np.nan, dtype=np.float64)
    if present.any():
        xy[present] = np.column_stack([parts.geometry[present].x, parts.geometry[present].y])
    return PointTable(
        prompt_ids=list(parts[ids]),
        xy=xy,
        labels=list(parts[labels]),
        crs=None if gdf.crs is None else pyproj.CRS.from_user_input(gdf.crs),
        source=path.name,
        rows=[f"feature {i}" for i in parts.index],
    )
