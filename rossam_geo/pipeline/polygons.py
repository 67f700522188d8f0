"""The polygon stage: window masks to polygons and areas, on a pool of CPU workers.

Polygonizing a mask with many holes takes far longer than the engine's pass over it (the speckle of untrained
weights: hundreds of milliseconds), so the stage hands every mask to a pool of worker processes and gives the
results back in input order, with at most ``depth`` masks in flight (a bounded queue): the engine thread
goes on with the next batches meanwhile. Before polygonizing, holes and islands smaller than
``min_region_px`` are removed (:func:`rossam_geo.geo.remove_small_regions`), as SAM's own post-processing
does.

Workers are processes forked once per process (Linux) and kept for later runs; they are forked before the
run starts its reader and engine threads. Where forking is not available or not allowed (other systems,
daemonic processes such as Dask workers), the workers are threads.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from shapely.geometry import Polygon

from rossam_geo import geo

if TYPE_CHECKING:
    import pyproj
    from shapely.geometry.base import BaseGeometry

    from rossam_geo.engines.base import Engine
    from rossam_geo.pipeline.run import BoxOutcome, WindowSource
    from rossam_geo.pipeline.timing import StageTimes

#: holes and islands smaller than this many raster pixels are removed before polygonizing, by default.
DEFAULT_MIN_REGION_PX = 25.0
#: runs with fewer boxes polygonize in the calling thread unless workers are asked for (a pool's start
#: costs more than it saves there).
POOL_MIN_BOXES = 64
#: the most polygon workers chosen automatically.
MAX_AUTO_WORKERS = 16


@dataclass(frozen=True)
class PolygonSettings:
    """How the masks of one scene become polygons (the same for every box; CRSs as WKT, so it pickles).

    Attributes:
        scene_transform: the scene's pixel -> CRS affine.
        scene_crs_wkt: the scene's CRS (None: pixel coordinates).
        output_crs_wkt: the CRS of the output polygons (None: the scene's).
        pixel_area: area of one pixel in scene-CRS units (for areas in pixels without a CRS).
        all_parts: keep every mask part overlapping the box, not only the one overlapping it most.
        simplify_px: simplification tolerance in pixels (0: none).
        min_region_px: holes and islands smaller than this (pixels) are removed first (0: none).
    """

    scene_transform: Affine
    scene_crs_wkt: str | None
    output_crs_wkt: str | None = None
    pixel_area: float = 1.0
    all_parts: bool = False
    simplify_px: float = 0.0
    min_region_px: float = DEFAULT_MIN_REGION_PX

    @classmethod
    def for_scene(
        cls,
        transform: Affine,
        crs: pyproj.CRS | None,
        output_crs: Any = None,
        **options: Any,
    ) -> PolygonSettings:
        """Settings for a scene; ``output_crs`` is anything pyproj reads (used only when the scene has a CRS).

        Args:
            transform, crs: the scene's.
            output_crs: the output CRS (None: the scene's).
            **options: ``all_parts``, ``simplify_px``, ``min_region_px``.
        """
        import pyproj

        out_wkt = None
        if output_crs is not None and crs is not None:
            out_wkt = pyproj.CRS.from_user_input(output_crs).to_wkt()
        return cls(
            scene_transform=transform,
            scene_crs_wkt=None if crs is None else crs.to_wkt(),
            output_crs_wkt=out_wkt,
            pixel_area=abs(transform.determinant),
            **options,
        )


@dataclass
class PolygonResult:
    """The polygon of one box.

    Attributes:
        geometry: in the scene CRS (empty when there was no mask or it does not overlap the box).
        output_geometry: the same in the output CRS.
        area, area_unit: area in ``m2`` (georeferenced) or ``px``, measured in the scene CRS.
        seconds: time spent making it.
        error: why it could not be made ("" when it was).
    """

    geometry: BaseGeometry
    output_geometry: BaseGeometry
    area: float
    area_unit: str
    seconds: float = 0.0
    error: str = ""


@functools.lru_cache(maxsize=16)
def _crs(wkt: str) -> pyproj.CRS:
    import pyproj

    return pyproj.CRS.from_wkt(wkt)


@functools.lru_cache(maxsize=16)
def _transformer(src_wkt: str, dst_wkt: str) -> pyproj.Transformer | None:
    import pyproj

    src, dst = _crs(src_wkt), _crs(dst_wkt)
    if src.equals(dst, ignore_axis_order=True):
        return None
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def polygonize(
    settings: PolygonSettings,
    mask: np.ndarray | None,
    col_off: int = 0,
    row_off: int = 0,
    box_in_window_px: tuple[float, float, float, float] | None = None,
    keep_points_px: np.ndarray | None = None,
) -> PolygonResult:
    """The polygon, output polygon and area of one window mask (runs in a worker).

    Args:
        settings: the scene's settings.
        mask: (h, w) bool mask of the window whose upper-left pixel is (col_off, row_off) of the scene; None:
            no mask (an empty polygon).
        col_off, row_off: the window's offset in scene pixels.
        box_in_window_px: the prompt box, XYXY in the window's pixels; only parts overlapping it are kept.
        keep_points_px: (P, 2) clicks on the object (label 1) in the window's pixels: the parts holding
            them are kept too.

    Returns:
        A :class:`PolygonResult`; an exception becomes its ``error`` with empty polygons.
    """
    import shapely

    started = time.perf_counter()
    scene_crs = None if settings.scene_crs_wkt is None else _crs(settings.scene_crs_wkt)
    try:
        geometry: BaseGeometry = Polygon()
        if mask is not None:
            geometry = geo.mask_to_geometry(
                mask,
                geo.window_transform(settings.scene_transform, col_off, row_off),
                box_px_xyxy=box_in_window_px,
                keep_points_px=keep_points_px,
                all_parts=settings.all_parts,
                simplify_px=settings.simplify_px,
                min_region_px=settings.min_region_px,
            )
        area, unit = geo.geometry_area(geometry, scene_crs, settings.pixel_area)
        output = geometry
        if (
            settings.output_crs_wkt is not None
            and settings.scene_crs_wkt is not None
            and not geometry.is_empty
        ):
            transformer = _transformer(settings.scene_crs_wkt, settings.output_crs_wkt)
            if transformer is not None:
                output = shapely.transform(
                    geometry, lambda x, y: transformer.transform(x, y), interleaved=False
                )
    except Exception as exc:  # noqa: BLE001 - one box's polygon failing fails that box only
        empty = Polygon()
        return PolygonResult(
            empty,
            empty,
            0.0,
            "px" if scene_crs is None else "m2",
            time.perf_counter() - started,
            f"{type(exc).__name__}: {exc}",
        )
    return PolygonResult(geometry, output, area, unit, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------ the pool
_pools: dict[tuple[str, int], Executor] = {}
_pools_lock = threading.Lock()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def polygon_workers(requested: int | None, n_boxes: int) -> int:
    """How many polygon workers a run of ``n_boxes`` uses.

    Args:
        requested: a count (0: polygonize in the calling thread), or None: automatic, which is 0 below
            :data:`POOL_MIN_BOXES` boxes or on machines with fewer than 4 cores, else the cores less 2 (one
            for the engine, one for reads), at most :data:`MAX_AUTO_WORKERS`.
        n_boxes: boxes of the run.
    """
    if requested is not None:
        return max(0, int(requested))
    cores = _cpu_count()
    if n_boxes < POOL_MIN_BOXES or cores < 4:
        return 0
    return min(cores - 2, MAX_AUTO_WORKERS)


def _can_fork() -> bool:
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def _ready() -> None:
    """A no-op run once on every worker of a new pool, so that all are started before the run's threads."""


def polygon_executor(workers: int) -> Executor:
    """The pool of ``workers`` polygon workers of this process, started on first use and kept.

    Call it before starting the run's reader and engine threads: forked workers are started here.
    """
    kind = "process" if _can_fork() else "thread"
    with _pools_lock:
        executor = _pools.get((kind, workers))
        if executor is None:
            if kind == "process":
                executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
            else:
                executor = ThreadPoolExecutor(workers, thread_name_prefix="rossam-polygons")
            executor.submit(_ready).result()
            _pools[(kind, workers)] = executor
        return executor


def _discard(executor: Executor) -> None:
    """Forget a broken pool (a worker died), so that the next run starts a new one."""
    with _pools_lock:
        for key, value in list(_pools.items()):
            if value is executor:
                del _pools[key]
    executor.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------------------------ the stage
def _task(
    outcome: BoxOutcome,
) -> tuple[np.ndarray | None, int, int, tuple[float, float, float, float] | None, np.ndarray | None]:
    plan = outcome.plan
    if outcome.mask is None or plan is None:
        return None, 0, 0, None, None
    box = plan.box_to_window(outcome.box_px_xyxy)
    positive = outcome.positive_points_px()
    return (
        outcome.mask,
        plan.col_off,
        plan.row_off,
        (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        None if positive is None else plan.points_to_window(positive),
    )


def polygonize_outcomes(
    outcomes: Iterable[BoxOutcome],
    settings: PolygonSettings,
    *,
    executor: Executor | None = None,
    depth: int = 0,
    timings: StageTimes | None = None,
) -> Iterator[tuple[BoxOutcome, PolygonResult]]:
    """Polygonize each outcome's mask and yield ``(outcome, polygon)`` in input order.

    An outcome that was "ok" becomes "failed" when its polygon is empty (the mask does not overlap the box)
    or could not be made; its mask is released once its polygon is made.

    Args:
        outcomes: box outcomes, e.g. from :func:`rossam_geo.pipeline.run.iter_box_masks`.
        settings: the scene's polygon settings.
        executor: the workers (None: polygonize in this thread, one outcome at a time).
        depth: masks in flight on the workers before the oldest is waited for.
        timings: where the stage's seconds are added (``"polygons"``).
    """
    pending: deque[tuple[BoxOutcome, Future[PolygonResult] | PolygonResult]] = deque()
    limit = max(int(depth), 0) if executor is not None else 0

    def finish(
        outcome: BoxOutcome, item: Future[PolygonResult] | PolygonResult
    ) -> tuple[BoxOutcome, PolygonResult]:
        if isinstance(item, Future):
            try:
                item = item.result()
            except Exception:  # noqa: BLE001 - a worker lost (killed, out of memory): do this box here
                if executor is not None:
                    _discard(executor)
                item = polygonize(settings, *_task(outcome))
        outcome.mask = None
        if timings is not None:
            timings.add("polygons", item.seconds)
        if outcome.status == "ok" and item.error:
            outcome.status, outcome.reason = "failed", f"the polygon could not be made: {item.error}"
        elif outcome.status == "ok" and item.geometry.is_empty:
            outcome.status, outcome.reason = "failed", "the mask does not overlap the box"
        return outcome, item

    try:
        for outcome in outcomes:
            task = _task(outcome)
            item: Future[PolygonResult] | PolygonResult
            if executor is None or task[0] is None:
                item = polygonize(settings, *task)
            else:
                try:
                    item = executor.submit(polygonize, settings, *task)
                except Exception:  # noqa: BLE001 - the pool broke earlier: do this box here
                    item = polygonize(settings, *task)
            pending.append((outcome, item))
            while len(pending) > limit:
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())
    finally:
        for _, item in pending:
            if isinstance(item, Future):
                item.cancel()


def iter_box_polygons(
    source: WindowSource,
    boxes_px_xyxy: np.ndarray,
    engine: Engine,
    settings: PolygonSettings,
    *,
    workers: int | None = None,
    timings: StageTimes | None = None,
    **mask_options: Any,
) -> Iterator[tuple[BoxOutcome, PolygonResult]]:
    """The staged pipeline: reads and resampling, the engine, and polygons on a pool of workers.

    Windows are read ahead on a CPU thread, the engine predicts on its own thread
    (:func:`rossam_geo.pipeline.run.iter_box_masks`), and the masks are polygonized by :func:`polygon_workers`
    workers (:func:`polygonize_outcomes`); bounded queues join the stages, so memory stays bounded while
    every stage works at once.

    Args:
        source, boxes_px_xyxy, engine: as for ``iter_box_masks``.
        settings: how masks become polygons.
        workers: polygon workers (None: automatic, see :func:`polygon_workers`; 0: in this thread).
        timings: where each stage's seconds are added.
        **mask_options: further options of ``iter_box_masks`` (``crop``, ``crop_size``, ``upsample``,
            ``batch_size``, ``on_progress``, ``prefetch``, ``points``).

    Yields:
        ``(outcome, polygon)`` per box, in input order.
    """
    from rossam_geo.pipeline.run import iter_box_masks

    boxes = np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4)
    count = polygon_workers(workers, len(boxes))
    executor = polygon_executor(count) if count else None  # forked before the reader and engine threads
    batch = int(mask_options.get("batch_size") or engine.max_batch or 1)
    masks = iter_box_masks(source, boxes, engine, timings=timings, **mask_options)
    try:
        yield from polygonize_outcomes(
            masks, settings, executor=executor, depth=max(4 * count, 2 * batch), timings=timings
        )
    finally:
        masks.close()
