"""From box outcomes (window masks) to output features: polygons in the scene CRS and their attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from rossam_geo import geo
from rossam_geo.pipeline.run import BoxOutcome

#: output columns, in order, before the carried-over prompt attributes and the geometry.
OUTPUT_COLUMNS = (
    "prompt_id",
    "class",
    "score",
    "area",
    "area_unit",
    "engine",
    "model",
    "crop_size",
    "upsample",
    "source",
    "created",
    "status",
    "reason",
)


@dataclass
class FeatureRow:
    """One output feature: the geometry in the scene CRS and its attributes."""

    geometry: BaseGeometry
    attributes: dict[str, Any] = field(default_factory=dict)


def outcome_geometry(
    outcome: BoxOutcome, scene_transform: Affine, *, all_parts: bool = False, simplify_px: float = 0.0
) -> BaseGeometry:
    """Polygonize an outcome's window mask in the scene CRS (empty Polygon when there is no mask).

    The mask is placed with the window's transform, so the polygon lands exactly where the window was read;
    only the part(s) overlapping the box are kept.
    """
    if outcome.mask is None or outcome.plan is None:
        return Polygon()
    plan = outcome.plan
    transform = geo.window_transform(scene_transform, plan.col_off, plan.row_off)
    box_in_window = tuple(float(v) for v in plan.box_to_window(outcome.box_px_xyxy))
    return geo.mask_to_geometry(
        outcome.mask, transform, box_px_xyxy=box_in_window, all_parts=all_parts, simplify_px=simplify_px
    )


def merge_attributes(own: dict[str, Any], carried: dict[str, Any]) -> dict[str, Any]:
    """Our attributes plus the prompt's; a clashing prompt attribute is kept as ``prompt_<name>``."""
    merged = dict(own)
    taken = {k.lower() for k in merged} | {"geometry", "fid"}
    for key, value in carried.items():
        name = key if key.lower() not in taken else f"prompt_{key}"
        if name.lower() in taken:
            continue
        merged[name] = value
        taken.add(name.lower())
    return merged


def settings_used(outcome: BoxOutcome, crop_size: int, upsample: float) -> tuple[int, float]:
    """(window side in raster pixels, raster-to-model scale) used for a box; the requested ones if skipped."""
    if outcome.plan is None:
        return int(crop_size), float(upsample)
    plan = outcome.plan
    return max(plan.width, plan.height), round(min(plan.scale_x, plan.scale_y), 6)


def feature_rows(
    outcomes: Sequence[BoxOutcome],
    geometries: Sequence[BaseGeometry],
    *,
    prompt_ids: Sequence[Any],
    classes: Sequence[str | None],
    attributes: Sequence[dict[str, Any]],
    scene_crs: Any,
    pixel_area: float,
    engine_name: str,
    model_name: str,
    crop_size: int,
    upsample: float,
    source_name: str,
    created_utc: str,
) -> list[FeatureRow]:
    """Attributes of every feature (see :data:`OUTPUT_COLUMNS`), one per outcome, in order."""
    rows = []
    for outcome, geom in zip(outcomes, geometries, strict=True):
        i = outcome.index
        area, unit = geo.geometry_area(geom, scene_crs, pixel_area)
        window_px, scale = settings_used(outcome, crop_size, upsample)
        own = {
            "prompt_id": prompt_ids[i],
            "class": classes[i],
            "score": float(outcome.score) if np.isfinite(outcome.score) else None,
            "area": area,
            "area_unit": unit,
            "engine": engine_name,
            "model": model_name,
            "crop_size": window_px,
            "upsample": scale,
            "source": source_name,
            "created": created_utc,
            "status": outcome.status,
            "reason": outcome.reason,
        }
        carried = attributes[i] if i < len(attributes) else {}
        rows.append(FeatureRow(geom, merge_attributes(own, carried)))
    return rows
