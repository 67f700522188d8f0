"""The output of a scene run: one schema (:data:`OUTPUT_SCHEMA`) and the features of box outcomes, each built
once, in prompt order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas

    from rossam_geo.engines import Engine
    from rossam_geo.io import PromptSet, SceneInfo
    from rossam_geo.pipeline.polygons import PolygonResult
    from rossam_geo.pipeline.run import BoxOutcome

__all__ = ["OUTPUT_COLUMNS", "OUTPUT_SCHEMA", "STATUSES", "FeatureFrameBuilder", "merge_attributes"]

#: Our output fields, in order, and their types (``integer``, ``real``, ``string``), before the prompt's own
#: attributes and the geometry. The worker's ``version`` reply carries it, so clients build their fields
#: from it. ``prompt_id`` is text for prompts whose ids are text (a GeoDataFrame with a text index).
OUTPUT_SCHEMA: dict[str, str] = {
    "prompt_id": "integer",
    "class": "string",
    "score": "real",
    "area": "real",
    "area_unit": "string",
    "engine": "string",
    "model": "string",
    "crop_size": "integer",
    "upsample": "real",
    "source": "string",
    "created": "string",
    "status": "string",
    "reason": "string",
}
OUTPUT_COLUMNS = tuple(OUTPUT_SCHEMA)
#: values of the ``status`` field.
STATUSES = ("ok", "low_score", "skipped", "failed")
#: dtypes of the numeric output fields, fixed so that every chunk of a run writes the same field types.
NUMERIC_DTYPES = {"score": "float64", "area": "float64", "crop_size": "int64", "upsample": "float64"}


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


def _columns(records: list[dict[str, Any]], first: Sequence[str]) -> list[str]:
    """Our columns first, then carried-over attributes in order of first appearance."""
    names = list(first)
    seen = set(names)
    for record in records:
        for key in record:
            if key not in seen:
                names.append(key)
                seen.add(key)
    return names


def feature_schema(prompts: PromptSet) -> dict[str, Any]:
    """Column -> dtype of the features of ``prompts``: our fields, then the prompts' attributes."""
    import pandas as pd

    records = []
    for i, prompt_id in enumerate(prompts.ids):
        own = dict.fromkeys(OUTPUT_COLUMNS)
        own.update(prompt_id=prompt_id, **{"class": prompts.classes[i]})
        records.append(merge_attributes(own, prompts.attributes[i] if i < len(prompts.attributes) else {}))
    table = pd.DataFrame.from_records(records, columns=_columns(records, OUTPUT_COLUMNS))
    dtypes: dict[str, Any] = {str(name): table[name].dtype for name in table.columns}
    dtypes.update({name: np.dtype(dtype) for name, dtype in NUMERIC_DTYPES.items()})
    return dtypes


class FeatureFrameBuilder:
    """Builds the GeoDataFrame of some outcomes of one scene run.

    With ``fixed_schema``, every frame has the columns and dtypes of the whole run (numeric fields always
    numeric, prompt attributes typed over all prompts), so chunks written one after another agree.

    Args:
        prompts: the prompts of the run (outcomes carry indexes into them).
        info: the scene.
        engine: the engine (its name and model are recorded).
        crop_size, upsample: the requested settings (recorded for skipped boxes).
        created: creation time (ISO 8601, UTC) recorded on every feature.
        output_crs: CRS of the output polygons (None: the scene's).
        fixed_schema: whether every frame gets the columns and dtypes of :func:`feature_schema`.
    """

    def __init__(
        self,
        prompts: PromptSet,
        info: SceneInfo,
        engine: Engine,
        crop_size: int,
        upsample: float,
        created: str,
        output_crs: Any,
        fixed_schema: bool,
    ) -> None:
        import pyproj

        self.prompts, self.info, self.engine = prompts, info, engine
        self.crop_size, self.upsample, self.created = crop_size, upsample, created
        self.crs: pyproj.CRS | None = info.crs
        if output_crs is not None and info.crs is not None:
            self.crs = pyproj.CRS.from_user_input(output_crs)
        self.schema = feature_schema(prompts) if fixed_schema else None

    def record(self, outcome: BoxOutcome, polygon: PolygonResult) -> dict[str, Any]:
        """The attributes of one outcome (see :data:`OUTPUT_SCHEMA`), then the prompt's own."""
        i = outcome.index
        prompts = self.prompts
        window_px, scale = settings_used(outcome, self.crop_size, self.upsample)
        own = {
            "prompt_id": prompts.ids[i],
            "class": prompts.classes[i],
            "score": float(outcome.score) if np.isfinite(outcome.score) else None,
            "area": polygon.area,
            "area_unit": polygon.area_unit,
            "engine": self.engine.name,
            "model": self.engine.model_name,
            "crop_size": window_px,
            "upsample": scale,
            "source": self.info.name,
            "created": self.created,
            "status": outcome.status,
            "reason": outcome.reason,
        }
        return merge_attributes(own, prompts.attributes[i] if i < len(prompts.attributes) else {})

    def build(
        self, outcomes: Sequence[BoxOutcome], polygons: Sequence[PolygonResult]
    ) -> geopandas.GeoDataFrame:
        """The features of ``outcomes``, with their polygons in the output CRS."""
        import geopandas as gpd

        records = [self.record(o, p) for o, p in zip(outcomes, polygons, strict=True)]
        columns = list(self.schema) if self.schema is not None else _columns(records, OUTPUT_COLUMNS)
        geometries = [p.output_geometry for p in polygons]
        frame = gpd.GeoDataFrame(records, columns=columns, geometry=geometries, crs=self.crs)
        for name, dtype in (self.schema or {}).items():
            if getattr(dtype, "kind", "O") != "O" and frame[name].dtype != dtype:
                frame[name] = frame[name].astype(dtype)
        return frame
