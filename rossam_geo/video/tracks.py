"""The tracks job: annotated boxes in a sequence of frames -> one polygon per (frame, track) in a GeoPackage.

Frames are processed in chunks of whole frames. After each chunk its features are appended to the GeoPackage
in one transaction (:class:`rossam_geo.segmentation.LayerSink`), so the GeoPackage alone records what is done:
a resumed run reads the (frame, track_id) pairs already there and segments only the others. A run killed at
any moment therefore loses at most the chunk in progress and never writes a pair twice. There is no separate
journal, so there is no window in which data and journal disagree.

Each chunk is independent of the others (with ``temporal`` it also re-segments, without writing, the frame
before each track's first box in the chunk), so chunks can run in any order, in any process: see
:mod:`rossam_geo.distributed`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyproj

from rossam_geo.video.annotations import TrackBox
from rossam_geo.video.frames import FrameInfo, FrameSource
from rossam_geo.video.job import WEIGHT_FREE_ENGINES, Chunk, TrackJob, plan_chunks
from rossam_geo.video.temporal import WindowMask, refine_with_previous
from rossam_geo.video.track_output import (
    TRACK_COLUMNS,
    TracksResult,
    annotations_fingerprint,
    open_tracks_output,
    output_crs_of,
    records_to_frame,
)

if TYPE_CHECKING:
    from rossam_geo.engines.base import Engine

__all__ = [
    "TRACK_COLUMNS",
    "WEIGHT_FREE_ENGINES",
    "Chunk",
    "TrackJob",
    "TracksResult",
    "annotations_fingerprint",
    "open_tracks_output",
    "output_crs_of",
    "plan_chunks",
    "records_to_frame",
    "run_tracks",
    "segment_chunk",
]


def _window_masks(
    engine: Engine, job: TrackJob, rgb: np.ndarray, boxes: Sequence[TrackBox]
) -> Iterator[tuple[TrackBox, Any]]:
    """Run the crop pipeline on one frame: (box, BoxOutcome) per box, in order."""
    from rossam_geo.pipeline.run import ArraySource, iter_box_masks

    boxes_px = np.array([b.box_px_xyxy for b in boxes], dtype=np.float64).reshape(-1, 4)
    outcomes = iter_box_masks(
        ArraySource(rgb),
        boxes_px,
        engine,
        crop_size=job.options.crop_size,
        upsample=job.options.upsample,
        batch_size=job.options.batch_size,
    )
    yield from zip(boxes, outcomes, strict=True)


def _record(
    job: TrackJob,
    engine: Engine,
    box: TrackBox,
    info: FrameInfo | None,
    geometry: Any,
    *,
    score: float,
    status: str,
    reason: str,
    created: str,
) -> dict[str, Any]:
    from rossam_geo import geo

    out_crs = job.output_crs()
    x0, y0, x1, y1 = box.box_px_xyxy
    cx = cy = float("nan")
    area, unit = 0.0, "px" if out_crs is None else "m2"
    if info is not None:
        cx, cy = info.transform @ ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        if status == "ok" or not geometry.is_empty:
            area, unit = geo.geometry_area(geometry, info.crs, info.pixel_area)
        if info.crs is not None and out_crs is not None and not info.crs.equals(out_crs):
            geometry = geo.reproject_geometries([geometry], info.crs, out_crs)[0]
            tx, ty = pyproj.Transformer.from_crs(info.crs, out_crs, always_xy=True).transform(cx, cy)
            cx, cy = float(tx), float(ty)
    return {
        "frame": box.frame,
        "track_id": box.track_id,
        "timestamp": job.timestamp(box.frame),
        "class": box.class_name,
        "score": score,
        "area": area,
        "area_unit": unit,
        "status": status,
        "reason": reason,
        "box_xmin": x0,
        "box_ymin": y0,
        "box_xmax": x1,
        "box_ymax": y1,
        "box_cx": float(cx),
        "box_cy": float(cy),
        "source": info.name if info is not None else "",
        "engine": engine.name,
        "model": engine.model_name,
        "created": created,
        "geometry": geometry,
    }


def _check_frame_crs(info: FrameInfo, job: TrackJob) -> str:
    """ "" when the frame fits the output layer, else the reason it cannot."""
    out_crs = job.output_crs()
    if (info.crs is None) != (out_crs is None):
        have = info.crs.name if info.crs is not None else "no CRS"
        want = out_crs.name if out_crs is not None else "no CRS"
        return f"frame {info.name!r} is in {have} but the output is in {want}"
    return ""


def segment_chunk(
    job: TrackJob, chunk: Chunk, engine: Engine | None = None, source: FrameSource | None = None
) -> list[dict[str, Any]]:
    """Segment one chunk: one record per box of ``chunk.boxes`` (never for context boxes).

    Per-box problems (box outside the frame, missing frame, engine error, empty mask) give a record with an
    empty geometry, ``status`` "skipped"/"failed" and a ``reason``; they never stop the chunk.

    Args:
        job: the job's settings.
        chunk: the chunk to segment.
        engine: a loaded engine to reuse; None builds one from ``job``.
        source: the opened frames of ``job`` to reuse (a video keeps its decoder position); None opens them.

    Returns:
        Records with the :data:`TRACK_COLUMNS` and a shapely ``geometry`` in the output CRS, ordered by
        (frame, track_id).
    """
    from shapely.geometry import Polygon

    from rossam_geo import geo

    engine = engine or job.build_engine()
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    temporal = job.temporal and engine.name not in WEIGHT_FREE_ENGINES
    source = source or job.open_frames()
    wanted: dict[int, list[TrackBox]] = defaultdict(list)
    for box in chunk.boxes:
        wanted[box.frame].append(box)
    context_frames: dict[int, list[TrackBox]] = defaultdict(list)
    if temporal:
        for box in chunk.context:
            context_frames[box.frame].append(box)

    def failed(box: TrackBox, why: str) -> dict[str, Any]:
        return _record(
            job,
            engine,
            box,
            None,
            Polygon(),
            score=float("nan"),
            status="failed",
            reason=why,
            created=created,
        )

    # Unrefined masks of each track's latest box seen so far: track_id -> (box, WindowMask).
    previous: dict[int, tuple[TrackBox, WindowMask]] = {}
    records: list[dict[str, Any]] = []
    seen_frames: set[int] = set()
    for info, rgb in source.read(sorted(set(wanted) | set(context_frames))):
        seen_frames.add(info.number)
        frame_boxes = context_frames.get(info.number, []) + wanted.get(info.number, [])
        writes = {(b.frame, b.track_id) for b in wanted.get(info.number, [])}
        crs_problem = _check_frame_crs(info, job)
        if crs_problem:
            records.extend(failed(box, crs_problem) for box in wanted.get(info.number, []))
            continue
        for box, outcome in _window_masks(engine, job, rgb, frame_boxes):
            raw = None
            if outcome.mask is not None and outcome.plan is not None:
                raw = WindowMask(outcome.mask, outcome.plan.col_off, outcome.plan.row_off)
            prior = previous.get(box.track_id)
            if raw is not None:
                previous[box.track_id] = (box, raw)
            else:
                previous.pop(box.track_id, None)
            if (box.frame, box.track_id) not in writes:
                continue
            status, reason = outcome.status, outcome.reason
            mask = raw.mask if raw is not None else None
            if temporal and prior is not None and outcome.plan is not None:
                plan = outcome.plan
                window = (plan.col_off, plan.row_off, plan.width, plan.height)
                refined, note = refine_with_previous(
                    raw, window, outcome.box_px_xyxy, prior[1], prior[0].box_px_xyxy
                )
                if note:
                    mask = refined
                    reason = "; ".join(r for r in (reason if raw is not None else "", note) if r)
                    status = "ok"
            geometry = Polygon()
            if mask is not None and mask.any() and outcome.plan is not None:
                plan = outcome.plan
                transform = geo.window_transform(info.transform, plan.col_off, plan.row_off)
                geometry = geo.mask_to_geometry(
                    mask,
                    transform,
                    box_px_xyxy=tuple(float(v) for v in plan.box_to_window(outcome.box_px_xyxy)),
                    all_parts=job.options.all_parts,
                    simplify_px=job.options.simplify_px,
                    min_region_px=job.options.min_region_px,
                )
                if geometry.is_empty:
                    status, reason = "failed", "the mask does not overlap the box"
            min_score = job.options.min_score
            if status == "ok" and min_score is not None and float(outcome.score) < min_score:
                status = "low_score"
                reason = "; ".join(
                    r for r in (reason, f"score {outcome.score:.3f} is below min_score {min_score:g}") if r
                )
            records.append(
                _record(
                    job,
                    engine,
                    box,
                    info,
                    geometry,
                    score=float(outcome.score),
                    status=status,
                    reason=reason,
                    created=created,
                )
            )
    for frame in sorted(set(wanted) - seen_frames):
        why = source.read_errors.get(frame, f"frame {frame} is missing in {job.frames_path!r}")
        records.extend(failed(box, why) for box in wanted[frame])
    return sorted(records, key=lambda r: (r["frame"], r["track_id"]))


def run_tracks(
    job: TrackJob,
    annotations: Sequence[TrackBox],
    out_path: str,
    *,
    layer: str = "tracks",
    mode: Literal["create", "overwrite", "resume"] = "create",
    frames_per_chunk: int = 16,
    on_chunk: Callable[[Chunk, TracksResult], None] | None = None,
    engine: Engine | None = None,
) -> TracksResult:
    """Segment every (frame, track) of ``annotations`` into ``out_path`` in this process, chunk by chunk.

    Args:
        job: the job (its ``output_crs_wkt`` must be set when the frames are georeferenced).
        annotations: the boxes (one per (frame, track_id)).
        out_path: the GeoPackage.
        layer: its layer name.
        mode: ``"create"`` (the output must not exist), ``"overwrite"``, or ``"resume"`` (skip pairs already
            in the output, append the rest; creates the output when missing).
        frames_per_chunk: frames per written chunk.
        on_chunk: called after each chunk is written (progress).
        engine: a loaded engine to use instead of building one from ``job``.

    Returns:
        A :class:`TracksResult`.
    """
    sink, done = open_tracks_output(out_path, layer, mode, annotations)
    result = TracksResult(already_done=len({(b.frame, b.track_id) for b in annotations} & done))
    chunks = plan_chunks(annotations, done, frames_per_chunk=frames_per_chunk, temporal=job.temporal)
    crs = job.output_crs()
    if not chunks:
        sink.finish(records_to_frame([], crs))
        return result
    engine = engine or job.build_engine()
    source = job.open_frames()
    for chunk in chunks:
        gdf = records_to_frame(segment_chunk(job, chunk, engine, source), crs)
        sink.write(gdf)
        result.add(gdf)
        if on_chunk is not None:
            on_chunk(chunk, result)
    return result
