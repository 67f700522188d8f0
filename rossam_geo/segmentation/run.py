"""The segment use case: one scene, its prompts and an engine -> one feature per prompt, in prompt order.

:func:`segment_scene` is the one run every entry point makes (the Python API, the command line, the QGIS
worker, Dask workers): it maps the prompts to scene pixels, runs the staged pipeline (window reads, the
engine, polygons on a pool of CPU workers; :func:`rossam_geo.pipeline.polygons.iter_box_polygons`), builds
each feature once, and hands the features to an output in chunks as they come, if there is one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rossam_geo.errors import CancelledError, CRSOptionError, OptionError
from rossam_geo.pipeline.timing import StageTimes
from rossam_geo.segmentation.features import FeatureFrameBuilder
from rossam_geo.segmentation.options import SegmentOptions
from rossam_geo.segmentation.points import points_in_pixels
from rossam_geo.validate import shorten

if TYPE_CHECKING:
    import geopandas
    from shapely.geometry.base import BaseGeometry

    from rossam_geo.engines import Engine
    from rossam_geo.io import PromptSet, RasterReader, SceneInfo
    from rossam_geo.pipeline.polygons import PolygonResult
    from rossam_geo.pipeline.run import BoxOutcome

__all__ = ["FeatureOutput", "SceneSegmentation", "check_scene", "segment_scene"]


class FeatureOutput(Protocol):
    """Where a run hands its features in chunks (:class:`rossam_geo.segmentation.output.SceneOutput`)."""

    def due(self, waiting: int) -> bool:
        """True when ``waiting`` features should be written now."""
        ...

    def write(self, features: geopandas.GeoDataFrame) -> None:
        """Write one chunk."""
        ...


@dataclass
class SceneSegmentation:
    """Everything one scene run produced.

    Attributes:
        features: one feature per prompt, in prompt order (see ``docs/segment.md`` for the fields).
        scene: the scene's description.
        boxes_px_xyxy: (N, 4) the prompt boxes in scene pixels (before clipping; NaN where unusable).
        geometries_scene: the polygons in the scene CRS (pixels when not georeferenced), in prompt order.
        seconds: wall time of the segmentation (prompts mapped to features built).
        already_done: prompts that a resumed run found finished in the output and did not segment again.
        timings: the busy seconds of each stage (reads, engine, polygons, writes).
    """

    features: geopandas.GeoDataFrame
    scene: SceneInfo
    boxes_px_xyxy: np.ndarray
    geometries_scene: list[BaseGeometry]
    seconds: float
    already_done: int = 0
    timings: StageTimes = field(default_factory=StageTimes)


class _Chunks:
    """The features of a run, each built once, in chunks handed to an output as they come."""

    def __init__(self, frame: FeatureFrameBuilder, output: FeatureOutput | None) -> None:
        self.frame, self.output = frame, output
        self.outcomes: list[BoxOutcome] = []
        self.polygons: list[PolygonResult] = []
        self.frames: list[geopandas.GeoDataFrame] = []
        self.built = 0
        self.seconds = 0.0
        self._flushing = False

    def add(self, outcome: BoxOutcome, polygon: PolygonResult) -> None:
        self.outcomes.append(outcome)
        self.polygons.append(polygon)
        if self.output is not None and self.output.due(len(self.outcomes) - self.built):
            self.flush()

    def flush(self) -> None:
        """Build the features not built yet and hand them to the output, if any."""
        if len(self.outcomes) == self.built:
            return
        self._flushing = True
        chunk = self.frame.build(self.outcomes[self.built :], self.polygons[self.built :])
        self.frames.append(chunk)
        self.built = len(self.outcomes)
        if self.output is not None:
            started = time.perf_counter()
            self.output.write(chunk)
            self.seconds += time.perf_counter() - started
        self._flushing = False

    def features(self) -> geopandas.GeoDataFrame:
        """All the features, in prompt order."""
        import pandas as pd

        self.flush()
        if not self.frames:
            return self.frame.build([], [])
        if len(self.frames) == 1:
            return self.frames[0]
        return pd.concat(self.frames, ignore_index=True)

    @contextmanager
    def collecting(self) -> Iterator[_Chunks]:
        """Write the rest after the block, or what is finished when Ctrl-C interrupts it."""
        try:
            yield self
        except KeyboardInterrupt:
            if not self._flushing:
                self.flush()
            raise
        self.flush()


def apply_min_score(outcome: BoxOutcome, min_score: float | None) -> None:
    """Mark an "ok" outcome whose score is below ``min_score`` as ``low_score`` (its mask is kept)."""
    if min_score is not None and outcome.status == "ok" and np.isfinite(outcome.score):
        if outcome.score < min_score:
            outcome.status = "low_score"
            outcome.reason = "; ".join(
                r
                for r in (outcome.reason, f"score {outcome.score:.3f} is below min_score {min_score:g}")
                if r
            )


def boxes_in_pixels(prompts: PromptSet, info: SceneInfo) -> np.ndarray:
    """(N, 4) the prompt boxes in scene pixels (NaN where they cannot be mapped)."""
    from rossam_geo import geo

    if prompts.crs is None:
        return np.asarray(prompts.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return geo.boxes_to_pixels(prompts.boxes_xyxy, prompts.crs, info)


def check_scene(reader: RasterReader, options: SegmentOptions) -> None:
    """Refuse options that do not fit the scene, before any work: bands it does not have (or no choice of
    bands for a 2-band scene), or an output CRS for a scene without CRS.

    Raises:
        OptionError: ``bands`` or ``output_crs`` does not fit (a :class:`~rossam_geo.errors.CRSError` for the
            CRS).
        RasterError: a 2-band scene and no ``bands``.
    """
    info = reader.info
    if options.output_crs is not None and info.crs is None:
        raise CRSOptionError(
            "output_crs",
            f"{shorten(options.output_crs)} cannot be used: scene {info.name!r} has no CRS, so its polygons "
            "are in pixels; drop it",
        )
    if options.bands is None:
        reader.resolve_bands(None)
        return
    missing = [b for b in options.bands if b > info.count]
    if missing:
        raise OptionError(
            "bands",
            f"{','.join(str(b) for b in options.bands)} asks for band {missing[0]}, but {info.name!r} has "
            f"{info.count} band(s); give band numbers from 1 to {info.count}",
        )


def segment_scene(
    reader: RasterReader,
    prompts: PromptSet,
    engine: Engine,
    options: SegmentOptions | None = None,
    *,
    output: FeatureOutput | None = None,
    on_progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    created: str | None = None,
) -> SceneSegmentation:
    """Segment one object per prompt in an open scene.

    Args:
        reader: the open scene.
        prompts: the prompt boxes (any CRS, or scene pixels when ``prompts.crs`` is None), with any clicks
            (``prompts.points``, :mod:`rossam_geo.segmentation.points`).
        engine: the engine.
        options: how to segment (default: :class:`SegmentOptions` defaults).
        output: takes the features in chunks as the run goes (None: they are only returned); on Ctrl-C the
            finished ones are handed over before the interruption goes on.
        on_progress: called with the number of boxes finished since the last call.
        should_stop: polled after each box; the run stops with :class:`CancelledError` once it returns True.
        created: the creation time recorded on every feature (default: now, UTC, ISO 8601).

    Returns:
        The :class:`SceneSegmentation`.

    Raises:
        OptionError: options that do not fit the scene (:func:`check_scene`).
        CRSError: an output CRS for a scene without CRS, or prompts whose CRS does not fit the scene.
        CancelledError: ``should_stop`` returned True.
    """
    from rossam_geo.pipeline.polygons import PolygonSettings, iter_box_polygons
    from rossam_geo.pipeline.run import ReaderSource

    options = options or SegmentOptions()
    started = time.perf_counter()
    info = reader.info
    check_scene(reader, options)
    boxes_px = boxes_in_pixels(prompts, info)
    points_px = points_in_pixels(prompts.points, info) if prompts.points is not None else None
    created = created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    frame = FeatureFrameBuilder(
        prompts,
        info,
        engine,
        options.crop_size,
        options.upsample,
        created,
        options.output_crs,
        output is not None,
    )
    settings = PolygonSettings.for_scene(
        info.transform,
        info.crs,
        options.output_crs,
        all_parts=options.all_parts,
        simplify_px=options.simplify_px,
        min_region_px=options.min_region_px,
    )
    chunks = _Chunks(frame, output)
    timings = StageTimes()
    with chunks.collecting():
        for done, (outcome, polygon) in enumerate(
            iter_box_polygons(
                ReaderSource(reader, bands=options.bands),
                boxes_px,
                engine,
                settings,
                workers=options.polygon_workers,
                timings=timings,
                crop=options.crop,
                crop_size=options.crop_size,
                upsample=options.upsample,
                batch_size=options.batch_size,
                points=points_px,
            ),
            start=1,
        ):
            apply_min_score(outcome, options.min_score)
            chunks.add(outcome, polygon)
            if on_progress is not None:
                on_progress(1)
            if should_stop is not None and should_stop():
                raise CancelledError(f"cancelled after {done} of {len(boxes_px)} boxes")
    features = chunks.features()
    timings.add("write", chunks.seconds)
    geometries = [polygon.geometry for polygon in chunks.polygons]
    return SceneSegmentation(
        features, info, boxes_px, geometries, time.perf_counter() - started, timings=timings
    )


def progress_bar(enabled: bool, total: int, description: str) -> Any:
    """A rich progress bar on stderr over ``total`` boxes, as a context yielding its advance callback (None
    when disabled)."""
    return _progress(enabled, total, description)


@contextmanager
def _progress(enabled: bool, total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
