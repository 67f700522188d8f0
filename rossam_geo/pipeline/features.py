"""From box outcomes (window masks) to output features: polygons in the scene CRS and their attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from rossam_geo.pipeline.polygons import PolygonResult
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
    polygons: Sequence[PolygonResult],
    *,
    prompt_ids: Sequence[Any],
    classes: Sequence[str | None],
    attributes: Sequence[dict[str, Any]],
    engine_name: str,
    model_name: str,
    crop_size: int,
    upsample: float,
    source_name: str,
    created_utc: str,
) -> list[FeatureRow]:
    """Every feature (see :data:`OUTPUT_COLUMNS`), one per outcome, in order, with the output geometry."""
    rows = []
    for outcome, polygon in zip(outcomes, polygons, strict=True):
        i = outcome.index
        window_px, scale = settings_used(outcome, crop_size, upsample)
        own = {
            "prompt_id": prompt_ids[i],
            "class": classes[i],
            "score": float(outcome.score) if np.isfinite(outcome.score) else None,
            "area": polygon.area,
            "area_unit": polygon.area_unit,
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
        rows.append(FeatureRow(polygon.output_geometry, merge_attributes(own, carried)))
    return rows
