"""Run an engine over boxes: validate, plan, read windows, batch, predict, paste back.

The loop sees only arrays: a :class:`WindowSource` gives windows of RGB pixels, the engine sees model inputs,
and each box comes back as a boolean mask over its window (raster pixel frame). Nothing here knows CRSs.
A box that cannot be segmented never stops the run: it yields a :class:`BoxOutcome` with status
``"skipped"`` (bad or outside box) or ``"failed"`` (read or engine error, empty mask) and a reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rossam_geo.engines.base import PAD_LABEL, Engine
from rossam_geo.errors import EngineError, InputError, NonFiniteOutput, explain
from rossam_geo.pipeline.plan import CropPlan, check_settings, plan_crop, plan_whole
from rossam_geo.pipeline.prefetch import SerializedSource, prefetch_map
from rossam_geo.pipeline.resample import logits_to_window_mask, window_to_model_input
from rossam_geo.pipeline.sources import ArraySource as ArraySource  # re-exported
from rossam_geo.pipeline.sources import ReaderSource as ReaderSource  # re-exported
from rossam_geo.pipeline.sources import WindowSource

if TYPE_CHECKING:
    from rossam_geo.pipeline.timing import StageTimes

Status = Literal["ok", "low_score", "skipped", "failed"]
#: the clicks of one box: (K, 2) float64 XY in raster pixels and (K,) int labels, 1 object, 0 background.
BoxPoints = tuple[np.ndarray, np.ndarray]

#: largest raster (pixels) that whole-raster mode (crop=False) reads into memory.
MAX_WHOLE_RASTER_PX = 50_000_000


@dataclass
class BoxOutcome:
    """The result of one box, in raster pixels.

    Attributes:
        index: position of the box in the input.
        box_px_xyxy: (4,) the box clipped to the raster (NaN when it could not be read).
        status: "ok", "skipped" or "failed".
        reason: why it was skipped or failed, or a note from the engine; "" when none.
        plan: the window of the box (None when skipped).
        mask: (plan.height, plan.width) bool object mask over the window (None unless status is "ok").
        score: the engine's score (NaN unless predicted).
        points_px_xy: (K, 2) the box's clicks in raster pixels (None: none); point_labels: their (K,)
            labels, 1 on the object, 0 off it.
    """

    index: int
    box_px_xyxy: np.ndarray
    status: Status
    reason: str = ""
    plan: CropPlan | None = None
    mask: np.ndarray | None = None
    score: float = float("nan")
    points_px_xy: np.ndarray | None = None
    point_labels: np.ndarray | None = None

    def positive_points_px(self) -> np.ndarray | None:
        """(P, 2) the clicks on the object (label 1), in raster pixels; None when there are none."""
        if self.points_px_xy is None or self.point_labels is None:
            return None
        positive = np.asarray(self.points_px_xy)[np.asarray(self.point_labels) == 1]
        return positive if len(positive) else None


def check_box(box_px_xyxy: np.ndarray, raster_width: int, raster_height: int) -> tuple[np.ndarray, str]:
    """Validate a pixel box and clip it to the raster.

    Returns:
        (the clipped (4,) box, "" when usable or the reason to skip it).
    """
    box = np.asarray(box_px_xyxy, dtype=np.float64).reshape(4)
    if not np.isfinite(box).all():
        return box, "box has no geometry or non-finite coordinates"
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return box, f"box is empty or inverted: ({x0:g}, {y0:g}, {x1:g}, {y1:g}) px"
    clipped = np.array([max(x0, 0.0), max(y0, 0.0), min(x1, raster_width), min(y1, raster_height)])
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return box, f"box is outside the raster ({raster_width}x{raster_height} px)"
    return clipped, ""


def takes_windows(engine: Engine) -> bool:
    """Whether ``engine`` resamples on its device (``predict_windows`` with raster windows)."""
    return bool(getattr(engine, "takes_windows", False)) and engine.input_size_px is not None


def _predict(
    engine: Engine, group: list[_Input], windows: bool
) -> list[tuple[np.ndarray, float, str] | Exception]:
    """One engine call for boxes whose inputs share a shape, checked: per box (window mask, score, note), or
    the error of a box whose output is not finite."""
    images = np.stack([item[1] for item in group])
    boxes = np.stack([item[3] for item in group])
    plans = [item[0].plan for item in group]
    clicks = _stack_points([item[4] for item in group])
    if windows:
        plan = plans[0]
        assert plan is not None  # every read box has a plan
        predicted = engine.predict_windows(  # type: ignore[attr-defined]
            images, boxes, (plan.model_height, plan.model_width), **clicks
        )
        masks = np.asarray(predicted.masks, dtype=bool)
        if masks.shape != images.shape[:3]:
            raise EngineError(
                f"engine {engine.name!r} returned masks {masks.shape} for {len(images)} windows of "
                f"{images.shape[1:3]}"
            )
        prediction: Any = predicted
        window_masks = list(masks)
        # NaN logits give empty masks here: an empty mask with a non-finite score tells them apart
        finite = np.isfinite(np.asarray(predicted.scores, dtype=np.float64).reshape(-1))
        finite = finite | masks.reshape(len(masks), -1).any(axis=1)
    else:
        prediction = engine.predict(images, boxes, **clicks)
        logits = np.asarray(prediction.mask_logits)
        if logits.shape != images.shape[:3]:
            raise EngineError(
                f"engine {engine.name!r} returned logits {logits.shape} for {len(images)} images of "
                f"{images.shape[1:3]}"
            )
        finite = np.isfinite(logits).reshape(len(logits), -1).all(axis=1)
        window_masks = [logits_to_window_mask(x, plan, None) for x, plan in zip(logits, plans, strict=True)]  # type: ignore[arg-type]
    scores = np.asarray(prediction.scores, dtype=np.float64).reshape(-1)
    if scores.shape != (len(images),):
        raise EngineError(f"engine {engine.name!r} returned scores {scores.shape} for {len(images)} boxes")
    notes = [n or "" for n in (getattr(prediction, "notes", ()) or ())]
    notes += [""] * (len(images) - len(notes))
    return [
        (mask & item[2], float(score), note) if ok else NonFiniteOutput()
        for mask, item, score, note, ok in zip(window_masks, group, scores, notes, finite, strict=True)
    ]


def _stack_points(points: list[BoxPoints | None]) -> dict[str, np.ndarray]:
    """The engine's point arguments for a group: (B, K, 2) points and (B, K) labels padded with -1; none
    (an empty dict) when no box of the group has clicks, so engines without points work for boxes."""
    most = max((len(p[1]) for p in points if p is not None), default=0)
    if most == 0:
        return {}
    xy = np.zeros((len(points), most, 2), np.float64)
    labels = np.full((len(points), most), PAD_LABEL, np.int64)
    for row, item in enumerate(points):
        if item is not None:
            xy[row, : len(item[1])] = item[0]
            labels[row, : len(item[1])] = item[1]
    return {"points_px_xy": xy, "point_labels": labels}


def _predict_group(
    engine: Engine, group: list[_Input], windows: bool
) -> list[tuple[np.ndarray, float, str] | Exception]:
    """Predict a same-shape group; after a failure, retry one by one so one bad box fails alone."""
    try:
        return list(_predict(engine, group, windows))
    except Exception as exc:  # noqa: BLE001 - any engine error becomes a per-box failure
        if len(group) == 1:
            return [exc]
    results: list[tuple[np.ndarray, float, str] | Exception] = []
    for item in group:
        results.extend(_predict_group(engine, [item], windows))
    return results


def iter_box_masks(
    source: WindowSource,
    boxes_px_xyxy: np.ndarray,
    engine: Engine,
    *,
    crop: bool = True,
    crop_size: int = 512,
    upsample: float = 2.0,
    batch_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    prefetch: int | None = None,
    timings: StageTimes | None = None,
    points: Sequence[BoxPoints | None] | None = None,
) -> Generator[BoxOutcome, None, None]:
    """Segment each box, one object per engine input, and yield the outcomes in input order.

    Args:
        source: the raster's windows.
        boxes_px_xyxy: (N, 4) XYXY boxes in raster pixels; NaN rows are skipped and reported.
        engine: the engine; its ``input_size_px`` decides the resampling.
        crop: True: one window per box (the ROS-SAM pipeline); False: the whole raster resized to the model
            input for every box (reads the whole raster into memory).
        crop_size: largest window side for boxes that fit (pixels).
        upsample: raster-to-model sampling rate, bicubic (never exceeded).
        batch_size: boxes per ``engine.predict`` call; default ``engine.max_batch``.
        on_progress: called with the number of boxes finished since the last call.
        prefetch: batches whose windows are read and resampled ahead on a CPU thread while the engine
            predicts (0: none); default: the engine's ``prefetch_batches`` attribute, else 0. With
            prefetching, the engine also runs one batch ahead on its own thread while the caller consumes
            the outcomes of the previous batch.
        points: per box, None or its clicks (:data:`BoxPoints`, raster pixels), given to the engine with the
            box in the engine's input frame; clicks outside the box's window are left out (the window is
            planned from the box alone, so clicks never move it). None: no clicks.

    Yields:
        One :class:`BoxOutcome` per box, in input order; masks are released by the caller.
    """
    check_settings(crop_size, upsample)
    boxes = np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4)
    batch = int(batch_size or engine.max_batch or 1)
    if batch < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}")
    whole_plan = whole_window = None
    if not crop:
        if source.width * source.height > MAX_WHOLE_RASTER_PX:
            raise InputError(
                f"the raster is {source.width}x{source.height} px, too large to segment as a whole "
                f"(limit {MAX_WHOLE_RASTER_PX:,} px); use crop mode (drop --no-crop)"
            )
        whole_plan = plan_whole(source.width, source.height, engine.input_size_px)

    depth = int(getattr(engine, "prefetch_batches", 0) if prefetch is None else prefetch)
    if points is not None and len(points) != len(boxes):
        raise InputError(f"got clicks for {len(points)} boxes but {len(boxes)} boxes; give one entry per box")
    batches: Iterable[list[BoxOutcome]] = _plan_batches(
        source, boxes, engine, batch, whole_plan, crop_size, upsample, points
    )
    if whole_plan is not None:
        batches = list(batches)
        if any(o.status == "ok" for group in batches for o in group):
            started = time.perf_counter()
            whole_window = source.read_window(0, 0, source.width, source.height)
            if timings is not None:
                timings.add("read", time.perf_counter() - started)
    reader = SerializedSource(source) if depth > 0 else source

    if timings is not None:
        timings.boxes += len(boxes)

    windows = takes_windows(engine) and whole_window is None

    def prepare(group: list[BoxOutcome]) -> list[_Input]:
        started = time.perf_counter()
        inputs = _read_batch(reader, [o for o in group if o.status == "ok"], whole_window, windows)
        if timings is not None:
            timings.add("read", time.perf_counter() - started)
        return inputs

    def predict(prepared: tuple[list[BoxOutcome], list[_Input]]) -> list[BoxOutcome]:
        group, inputs = prepared
        started = time.perf_counter()
        _predict_batch(engine, inputs, windows)
        if timings is not None:
            timings.add("engine", time.perf_counter() - started)
        return group

    prepared = prefetch_map(prepare, batches, depth=depth)
    # With prefetching, batch k+1 is predicted on one engine thread while the caller turns batch k into
    # features: the device never waits for the polygons. Engine calls stay serialized on that thread.
    predicted = prefetch_map(predict, prepared, depth=1 if depth > 0 else 0)
    try:
        for _, group in predicted:
            if on_progress is not None:
                on_progress(len(group))
            yield from group
    finally:
        predicted.close()
        prepared.close()


def _plan_batches(
    source: WindowSource,
    boxes: np.ndarray,
    engine: Engine,
    batch: int,
    whole_plan: CropPlan | None,
    crop_size: int,
    upsample: float,
    points: Sequence[BoxPoints | None] | None,
) -> Iterator[list[BoxOutcome]]:
    """Check and plan the boxes; yield them in input order, in groups holding ``batch`` planned boxes
    (plus the skipped boxes between them)."""
    pending: list[BoxOutcome] = []
    for index, raw in enumerate(boxes):
        clipped, reason = check_box(raw, source.width, source.height)
        if reason:
            pending.append(BoxOutcome(index, clipped, "skipped", reason))
        else:
            plan = whole_plan or plan_crop(
                clipped,
                source.width,
                source.height,
                crop_size=crop_size,
                upsample=upsample,
                input_size_px=engine.input_size_px,
            )
            outcome = BoxOutcome(index, clipped, "ok", plan=plan)
            clicks = points[index] if points is not None else None
            if clicks is not None and len(clicks[1]):
                outcome.points_px_xy, outcome.point_labels = clicks
            pending.append(outcome)
        ready = sum(o.status == "ok" for o in pending)
        if ready >= batch or index == len(boxes) - 1:
            yield pending
            pending = []


#: one prepared box: (outcome, engine input (model input (S, S, 3) uint8, or the raster window (h, w, 3) uint8
#: for engines that resample on their device), valid (h, w) bool, box in the input's pixels (4,), its clicks
#: in the input's pixels or None).
_Input = tuple[BoxOutcome, np.ndarray, np.ndarray, np.ndarray, BoxPoints | None]


def _read_batch(
    source: WindowSource,
    outcomes: list[BoxOutcome],
    whole_window: tuple[np.ndarray, np.ndarray] | None,
    windows: bool = False,
) -> list[_Input]:
    """Read the windows of planned boxes and resample them to the model input (unless ``windows``: the
    engine resamples them itself); a failed read fails its box only (in place)."""
    inputs: list[_Input] = []
    model_input_whole: np.ndarray | None = None
    for outcome in outcomes:
        plan = outcome.plan
        assert plan is not None  # set for every "ok" outcome by _plan_batches
        try:
            if whole_window is not None:
                rgb, valid = whole_window
                if model_input_whole is None:
                    model_input_whole = window_to_model_input(rgb, plan)
                model_input = model_input_whole
            else:
                rgb, valid = source.read_window(plan.col_off, plan.row_off, plan.width, plan.height)
                model_input = rgb if windows else window_to_model_input(rgb, plan)
        except Exception as exc:  # noqa: BLE001 - a failed read fails this box only
            outcome.status, outcome.reason = "failed", f"window could not be read: {explain(exc)}"
            continue
        box = plan.box_to_window(outcome.box_px_xyxy) if windows else plan.box_to_model(outcome.box_px_xyxy)
        inputs.append((outcome, model_input, valid, box, _input_points(outcome, plan, windows)))
    return inputs


def _input_points(outcome: BoxOutcome, plan: CropPlan, windows: bool) -> BoxPoints | None:
    """A box's clicks in the engine's input frame (the window, or the model input), mapped as its box is;
    clicks outside the window are left out, and the outcome's reason says so."""
    if outcome.points_px_xy is None or outcome.point_labels is None:
        return None
    xy_window = plan.points_to_window(outcome.points_px_xy)
    inside = (
        (xy_window[:, 0] >= 0)
        & (xy_window[:, 0] <= plan.width)
        & (xy_window[:, 1] >= 0)
        & (xy_window[:, 1] <= plan.height)
    )
    if not inside.all():
        outcome.reason = (
            f"{int((~inside).sum())} click(s) outside the box's window of {plan.width} px left out"
        )
    if not inside.any():
        return None
    kept = outcome.points_px_xy[inside]
    return (plan.points_to_window(kept) if windows else plan.points_to_model(kept)), outcome.point_labels[
        inside
    ]


def _predict_batch(engine: Engine, inputs: list[_Input], windows: bool = False) -> None:
    """Predict and paste back a batch of read boxes, updating their outcomes in place."""

    # Windows of different sizes (large boxes; native-resolution engines) go in one call per shape.
    def key(item: _Input) -> tuple[int, ...]:
        plan = item[0].plan
        assert plan is not None
        return (*item[1].shape, plan.model_height, plan.model_width)

    for shape in sorted({key(item) for item in inputs}):
        group = [item for item in inputs if key(item) == shape]
        for (outcome, *_), result in zip(group, _predict_group(engine, group, windows), strict=True):
            if isinstance(result, Exception):
                outcome.status = "failed"
                outcome.reason = (
                    str(result)
                    if isinstance(result, NonFiniteOutput)
                    else f"engine error: {type(result).__name__}: {explain(result)}"
                )
                continue
            mask, score, note = result
            outcome.score = score
            outcome.reason = "; ".join(r for r in (outcome.reason, note) if r)
            if not mask.any():
                outcome.status = "failed"
                outcome.reason = "; ".join(r for r in (outcome.reason, "empty mask") if r)
            else:
                outcome.mask = mask
