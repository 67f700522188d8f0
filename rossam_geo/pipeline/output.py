"""Output features of a scene run, written to a GeoPackage in chunks, and resuming an interrupted run.

A run writes its features through :class:`rossam_geo.io.GeoPackageWriter` (each chunk one atomic write), so a
killed run leaves a valid file; a resumed run reads the layer's :data:`RESUME_FIELDS` back, checks that the
same engine made it (:func:`check_resumable`) and segments only the prompts without a finished feature
(:func:`resume_plan`), replacing the ``failed`` ones in the write that adds their new feature
(:class:`OutputSink`). File access goes through :mod:`rossam_geo.io` only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas

    from rossam_geo.engines import Engine
    from rossam_geo.io import GeoPackageWriter, PromptSet, SceneInfo
    from rossam_geo.pipeline.polygons import PolygonResult

__all__ = [
    "RESUME_FIELDS",
    "WRITE_MODES",
    "ChunkedFeatures",
    "FeatureFrameBuilder",
    "OutputRun",
    "OutputSink",
    "check_resumable",
    "check_write_mode",
    "feature_schema",
    "open_output",
    "prompt_key",
    "resume_plan",
    "subset_prompts",
]

#: output fields a resumed run reads: what is done (per scene and prompt) and what made it.
RESUME_FIELDS = ("prompt_id", "source", "status", "engine", "model")
#: write modes of :meth:`rossam_geo.api.Segmenter.segment_to_file`.
WRITE_MODES = ("create", "overwrite", "append", "resume")
#: dtypes of the numeric output fields, fixed so that every chunk of a run writes the same field types.
NUMERIC_DTYPES = {"score": "float64", "area": "float64", "crop_size": "int64", "upsample": "float64"}


# ------------------------------------------------------------------------------------------------ resuming


def check_write_mode(output: str | Path, mode: str) -> Path:
    """Check a write mode against the output before any work is done.

    Args:
        output: the ``.gpkg`` file.
        mode: one of :data:`WRITE_MODES`.

    Returns:
        ``output`` as a Path.

    Raises:
        InputError: ``mode`` is not one of :data:`WRITE_MODES`.
        OutputExistsError: ``mode="create"`` and the output exists.
    """
    from rossam_geo.errors import InputError, OutputExistsError

    if mode not in WRITE_MODES:
        raise InputError(f"mode must be 'create', 'overwrite', 'append' or 'resume', got {mode!r}")
    out_path = Path(output)
    if mode == "create" and out_path.exists():
        raise OutputExistsError(
            f"output {str(out_path)!r} exists; use --overwrite to replace it, --append to add to it or "
            "--resume to finish an interrupted run"
        )
    return out_path


def check_resumable(
    table: Any, output: str | Path, out_layer: str, engine_name: str, model_name: str | None = None
) -> None:
    """Refuse to resume an output layer made by another engine or model.

    Args:
        table: the layer's :data:`RESUME_FIELDS` (:func:`rossam_geo.io.read_layer_table`).
        output, out_layer: the GeoPackage and its layer, for the message.
        engine_name, model_name: the engine of the resumed run and its model (None: compare engines only).

    Raises:
        InputError: a feature of the layer records another engine or model.
    """
    from rossam_geo.errors import InputError

    for engine, model in sorted(
        {(str(e), str(m)) for e, m in zip(table["engine"], table["model"], strict=True)}
    ):
        if engine != engine_name or (model_name is not None and model != model_name):
            current = engine_name if model_name is None else f"{engine_name} (model {model_name!r})"
            raise InputError(
                f"cannot resume layer {out_layer!r} of {str(output)!r}: it was made with engine {engine} "
                f"(model {model!r}), this run uses engine {current}; resume with the same engine and "
                "weights, or start again with --overwrite"
            )


def prompt_key(prompt_id: Any) -> str:
    """A prompt id as text, the same for an id read back from a GeoPackage (``7``, ``7.0``, ``"7"``)."""
    if isinstance(prompt_id, np.generic):
        prompt_id = prompt_id.item()
    if isinstance(prompt_id, float) and prompt_id.is_integer():
        prompt_id = int(prompt_id)
    return str(prompt_id)


def resume_plan(
    table: Any, scene_name: str, prompt_ids: Sequence[Any]
) -> tuple[list[int], dict[str, list[int]]]:
    """Which prompts of a scene a resumed run segments, and which failed features their results replace.

    Args:
        table: the layer's :data:`RESUME_FIELDS`, indexed by feature id.
        scene_name: the scene's file name (the ``source`` field of its features).
        prompt_ids: the ids of the scene's prompts, in prompt order.

    Returns:
        (indexes into ``prompt_ids`` of the prompts without a finished feature, in order;
        :func:`prompt_key` -> feature ids of the ``failed`` features of those prompts).
    """
    finished: set[str] = set()
    failed: dict[str, list[int]] = {}
    rows = table[table["source"].astype(str) == scene_name]
    for fid, prompt_id, status in zip(rows.index, rows["prompt_id"], rows["status"], strict=True):
        key = prompt_key(prompt_id)
        if status == "failed":
            failed.setdefault(key, []).append(int(fid))
        else:
            finished.add(key)
    todo = [i for i, prompt_id in enumerate(prompt_ids) if prompt_key(prompt_id) not in finished]
    wanted = {prompt_key(prompt_ids[i]) for i in todo}
    return todo, {key: fids for key, fids in failed.items() if key in wanted}


def subset_prompts(prompts: PromptSet, indexes: Sequence[int]) -> PromptSet:
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
    )


# ------------------------------------------------------------------------------------------ chunked output


class OutputSink:
    """Hands chunks of features to a GeoPackage writer, deleting the failed features each chunk replaces.

    Args:
        writer: a :class:`rossam_geo.io.GeoPackageWriter` (or anything with its ``due`` and ``write``).
        replaced: :func:`prompt_key` -> feature ids that the new feature of that prompt replaces.
    """

    def __init__(self, writer: Any, replaced: dict[str, list[int]]) -> None:
        self.writer = writer
        self.replaced = dict(replaced)

    def due(self, waiting: int) -> bool:
        """True when ``waiting`` features should be written now."""
        return bool(self.writer.due(waiting))

    def write(self, features: geopandas.GeoDataFrame) -> None:
        """Write one chunk, dropping the failed features of its prompts in the same atomic write."""
        keys = [prompt_key(p) for p in features["prompt_id"]]
        drop = [fid for key in keys for fid in self.replaced.pop(key, [])]
        self.writer.write(features, drop_fids=drop)


@dataclass
class OutputRun:
    """One scene run into a GeoPackage layer, planned by :func:`open_output`.

    Attributes:
        writer: writes the chunks.
        sink: what the scene run hands its chunks to.
        todo: indexes of the prompts to segment, in prompt order.
        prompt_count: all prompts of the scene.
        resumed: whether an existing layer was resumed.
    """

    writer: GeoPackageWriter
    sink: OutputSink
    todo: list[int]
    prompt_count: int
    resumed: bool

    @property
    def already_done(self) -> int:
        """Prompts found finished in the output and not segmented again."""
        return self.prompt_count - len(self.todo)

    def finish(self, features: geopandas.GeoDataFrame) -> None:
        """After the scene run: when nothing was written (no prompt to segment) and nothing was resumed,
        write ``features`` (empty) so that the layer exists afterwards."""
        if self.writer.writes == 0 and not self.resumed:
            self.writer.write(features)


def open_output(
    out_path: Path,
    out_layer: str,
    mode: str,
    *,
    scene_name: str,
    prompt_ids: Sequence[Any],
    engine: Engine,
    every_seconds: float,
    every_features: int,
) -> OutputRun:
    """Plan a scene run into a GeoPackage layer: the writer and, with ``mode="resume"``, the prompts to redo.

    Args:
        out_path: the ``.gpkg`` file (checked with :func:`check_write_mode`).
        out_layer: its layer.
        mode: one of :data:`WRITE_MODES`; ``"resume"`` without the file or layer plans a normal run.
        scene_name: the scene's file name (``source`` of its features).
        prompt_ids: the scene's prompt ids, in prompt order.
        engine: the engine of the run (its ``name`` and ``model_name`` must match a resumed layer).
        every_seconds, every_features: when chunks are written (:class:`rossam_geo.io.GeoPackageWriter`).

    Raises:
        InputError: resuming a layer made by another engine or model, or not written by rossam_geo.
    """
    from rossam_geo import io

    table = io.read_layer_table(out_path, out_layer, list(RESUME_FIELDS)) if mode == "resume" else None
    todo: list[int] = list(range(len(prompt_ids)))
    replaced: dict[str, list[int]] = {}
    if table is not None:
        check_resumable(table, out_path, out_layer, engine.name, engine.model_name)
        todo, replaced = resume_plan(table, scene_name, prompt_ids)
    writer = io.GeoPackageWriter(
        out_path,
        layer=out_layer,
        mode="append" if mode in ("append", "resume") else mode,  # type: ignore[arg-type]
        every_seconds=every_seconds,
        every_features=every_features,
    )
    return OutputRun(writer, OutputSink(writer, replaced), todo, len(prompt_ids), table is not None)


class ChunkedFeatures:
    """The outcomes and polygons of a scene run, handed to a sink in chunks as they come.

    Use :meth:`collecting` around the loop over boxes: it writes what is left when the loop ends, and what
    is finished when the loop is interrupted with Ctrl-C (so that a resumed run starts from there).

    Args:
        frame: builds the features of some outcomes.
        sink: takes the chunks (None: features are only kept).
    """

    def __init__(self, frame: FeatureFrameBuilder, sink: OutputSink | None) -> None:
        self.frame = frame
        self.sink = sink
        self.outcomes: list[Any] = []
        self.polygons: list[PolygonResult] = []
        self.written = 0
        self.write_seconds = 0.0
        self._flushing = False

    def add(self, outcome: Any, polygon: PolygonResult) -> None:
        """Keep one outcome and its polygon; write the waiting ones when the sink says so."""
        self.outcomes.append(outcome)
        self.polygons.append(polygon)
        if self.sink is not None and self.sink.due(len(self.outcomes) - self.written):
            self.flush()

    def flush(self) -> None:
        """Write the outcomes not written yet (nothing without a sink)."""
        if self.sink is None or len(self.outcomes) == self.written:
            return
        self._flushing = True
        started = time.perf_counter()
        self.sink.write(self.frame.build(self.outcomes[self.written :], self.polygons[self.written :]))
        self.write_seconds += time.perf_counter() - started
        self.written, self._flushing = len(self.outcomes), False

    @contextmanager
    def collecting(self) -> Iterator[ChunkedFeatures]:
        """Write the rest after the block, or what is finished when Ctrl-C interrupts it."""
        try:
            yield self
        except KeyboardInterrupt:
            if not self._flushing:
                self.flush()
            raise
        self.flush()

    def features(self) -> geopandas.GeoDataFrame:
        """All the features collected, in prompt order."""
        return self.frame.build(self.outcomes, self.polygons)


# ----------------------------------------------------------------------------------------- feature frames


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


class FeatureFrameBuilder:
    """Builds the GeoDataFrame of some outcomes of one scene run.

    With ``fixed_schema``, every frame has the columns and dtypes of the whole run (numeric fields always
    numeric, prompt attributes typed over all prompts), so chunks written one after another agree.

    Args:
        prompts: the prompts of the run (outcomes carry indexes into them).
        info: the scene.
        engine: the engine (its name and model are recorded).
        crop_size, upsample: recorded inference settings.
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
        self.prompts, self.info, self.engine = prompts, info, engine
        self.crop_size, self.upsample, self.created, self.output_crs = (
            crop_size,
            upsample,
            created,
            output_crs,
        )
        self.schema = feature_schema(prompts) if fixed_schema else None

    def build(self, outcomes: Sequence[Any], polygons: Sequence[PolygonResult]) -> geopandas.GeoDataFrame:
        """The features of ``outcomes``, with their polygons in the output CRS."""
        import geopandas as gpd
        import pyproj

        from rossam_geo.pipeline.features import OUTPUT_COLUMNS, feature_rows

        info, prompts = self.info, self.prompts
        rows = feature_rows(
            outcomes,
            polygons,
            prompt_ids=prompts.ids,
            classes=prompts.classes,
            attributes=prompts.attributes,
            engine_name=self.engine.name,
            model_name=self.engine.model_name,
            crop_size=self.crop_size,
            upsample=self.upsample,
            source_name=info.name,
            created_utc=self.created,
        )
        out_crs: pyproj.CRS | None = info.crs
        if self.output_crs is not None and info.crs is not None:
            out_crs = pyproj.CRS.from_user_input(self.output_crs)
        records = [row.attributes for row in rows]
        columns = list(self.schema) if self.schema is not None else _columns(records, OUTPUT_COLUMNS)
        geometries = [row.geometry for row in rows]
        frame = gpd.GeoDataFrame(records, columns=columns, geometry=geometries, crs=out_crs)
        for name, dtype in (self.schema or {}).items():
            if getattr(dtype, "kind", "O") != "O" and frame[name].dtype != dtype:
                frame[name] = frame[name].astype(dtype)
        return frame


def feature_schema(prompts: PromptSet) -> dict[str, Any]:
    """Column -> dtype of the features of ``prompts``: our fields, then the prompts' attributes."""
    import pandas as pd

    from rossam_geo.pipeline.features import OUTPUT_COLUMNS, merge_attributes

    records = []
    for i, prompt_id in enumerate(prompts.ids):
        own = dict.fromkeys(OUTPUT_COLUMNS)
        own.update(prompt_id=prompt_id, **{"class": prompts.classes[i]})
        records.append(merge_attributes(own, prompts.attributes[i] if i < len(prompts.attributes) else {}))
    table = pd.DataFrame.from_records(records, columns=_columns(records, OUTPUT_COLUMNS))
    dtypes: dict[str, Any] = {str(name): table[name].dtype for name in table.columns}
    dtypes.update({name: np.dtype(dtype) for name, dtype in NUMERIC_DTYPES.items()})
    return dtypes
