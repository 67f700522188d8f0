"""Prompts of a run from any accepted value (a file, a GeoDataFrame, an array, a PromptSet), a subset of them,
and the fingerprint that ties an output to the prompt set it was made from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import PromptError
from rossam_geo.segmentation.options import PromptOptions

if TYPE_CHECKING:
    import geopandas

    from rossam_geo.io import PromptSet

__all__ = ["Boxes", "load_prompts", "prompt_fingerprint", "prompt_key", "prompts_from_geodataframe", "subset"]

#: what ``boxes`` may be: a prompt file, a GeoDataFrame, an (N, 4) array, or prompts already read.
Boxes = Any


def prompts_from_geodataframe(
    gdf: geopandas.GeoDataFrame, *, class_field: str | None = None, boxes_crs: Any = None
) -> PromptSet:
    """Prompts from a GeoDataFrame: each feature's envelope; class from ``class_field`` (default: the first
    of ``class``, ``label``, ``category``, ``class_name``).

    Rows without geometry keep a NaN box (reported as skipped). ``boxes_crs`` applies only when the frame
    has no CRS.
    """
    import pyproj

    from rossam_geo.io import CLASS_FIELD_CANDIDATES, PromptSet

    geometry = gdf.geometry
    boxes = np.full((len(gdf), 4), np.nan, dtype=np.float64)
    if len(gdf):
        present = ~(geometry.isna() | geometry.is_empty).to_numpy()
        boxes[present] = geometry[present].bounds.to_numpy(dtype=np.float64)

    columns = [str(c) for c in gdf.columns if c != geometry.name]
    by_lower = {c.lower(): c for c in columns}
    if class_field is not None:
        class_col: str | None = class_field if class_field in columns else by_lower.get(class_field.lower())
        if class_col is None:
            raise PromptError(
                f"class field {class_field!r} not found; available columns: {', '.join(columns) or '(none)'}"
            )
    else:
        class_col = next((by_lower[c] for c in CLASS_FIELD_CANDIDATES if c in by_lower), None)
    classes: list[str | None] = (
        [None if v is None or v != v else str(v) for v in gdf[class_col]] if class_col else [None] * len(gdf)
    )
    attr_cols = [c for c in columns if c != class_col]
    attributes = gdf[attr_cols].to_dict("records") if attr_cols else [{} for _ in range(len(gdf))]
    crs_input = gdf.crs if gdf.crs is not None else boxes_crs
    crs = pyproj.CRS.from_user_input(crs_input) if crs_input is not None else None
    return PromptSet(
        ids=list(gdf.index),
        boxes_xyxy=boxes,
        crs=crs,
        classes=classes,
        attributes=attributes,
        source="GeoDataFrame",
    )


def load_prompts(boxes: Boxes, scene_name: str, options: PromptOptions) -> PromptSet:
    """Turn any accepted ``boxes`` value into a PromptSet, read with ``options``.

    Args:
        boxes: a prompt file (path), a GeoDataFrame, an (N, 4) XYXY array in ``options.boxes_crs`` (scene
            pixels when None or with ``pixel``), or a PromptSet (returned as is).
        scene_name: the scene's file name (picks its rows of COCO and multi-image CSV files).
        options: how to read them.
    """
    import pyproj

    from rossam_geo import io

    if isinstance(boxes, io.PromptSet):
        return boxes
    if isinstance(boxes, (str, Path)):
        return io.read_prompts(
            boxes,
            layer=options.layer,
            crs=options.boxes_crs,
            class_field=options.class_field,
            scene_name=scene_name,
            pixel=options.pixel,
        )
    if hasattr(boxes, "geometry") and hasattr(boxes, "crs"):
        return prompts_from_geodataframe(boxes, class_field=options.class_field, boxes_crs=options.boxes_crs)
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise PromptError(
            f"boxes must be a prompt file, a GeoDataFrame or an (N, 4) XYXY array, got shape {array.shape}"
        )
    crs_text = None if options.pixel else options.boxes_crs
    return io.PromptSet(
        ids=list(range(len(array))),
        boxes_xyxy=array,
        crs=None if crs_text is None else pyproj.CRS.from_user_input(crs_text),
        classes=[None] * len(array),
        attributes=[{} for _ in range(len(array))],
        source="array",
    )


def prompt_key(prompt_id: Any) -> str:
    """A prompt id as text, the same for an id read back from a GeoPackage (``7``, ``7.0``, ``"7"``)."""
    if isinstance(prompt_id, np.generic):
        prompt_id = prompt_id.item()
    if isinstance(prompt_id, float) and prompt_id.is_integer():
        prompt_id = int(prompt_id)
    return str(prompt_id)


def prompt_fingerprint(prompts: PromptSet) -> str:
    """SHA-256 of the prompt set's ids and boxes (in their own coordinates), as ``sha256:<hex>``.

    The same prompt file read the same way always gives the same fingerprint; any change of an id, a box,
    the number of prompts or their clicks (when there are any) gives another.
    """
    boxes = np.asarray(prompts.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    items = [
        [prompt_key(i), [None if not np.isfinite(v) else float(v) for v in box]]
        for i, box in zip(prompts.ids, boxes, strict=True)
    ]
    points = getattr(prompts, "points", None)
    text = json.dumps(items, separators=(",", ":")) + (
        points.fingerprint_text() if points is not None else ""
    )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


def subset(prompts: PromptSet, indexes: Sequence[int]) -> PromptSet:
    """The prompts at ``indexes``, in that order."""
    from rossam_geo.io import PromptSet

    attributes = [prompts.attributes[i] if i < len(prompts.attributes) else {} for i in indexes]
    return PromptSet(
        ids=[prompts.ids[i] for i in indexes],
        boxes_xyxy=np.asarray(prompts.boxes_xyxy, dtype=np.float64).reshape(-1, 4)[list(indexes)],
        crs=prompts.crs,
        classes=[prompts.classes[i] for i in indexes],
        attributes=attributes,
        source=prompts.source,
        layer=prompts.layer,
        points=None if prompts.points is None else prompts.points.subset(indexes),
    )
