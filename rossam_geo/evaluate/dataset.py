"""Dataset mode: run several engines on a COCO dataset's ground-truth boxes and score them together.

A dataset folder holds ``annotations.json`` (COCO instances with masks) and the images it references by
``file_name``, relative to the folder. Each engine segments every image with the ground-truth boxes (COCO xywh
converted to XYXY pixel edges) through :class:`rossam_geo.api.Segmenter`; all engines are scored on the same
objects. ``max_objects`` keeps the first N annotations in file order (and the images holding them).
``background_boxes`` N also prompts every engine with the same N seeded boxes over background
(:func:`rossam_geo.evaluate.background.dataset_background_boxes`) and reports their mean score.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rossam_geo.errors import InputError, RossamError
from rossam_geo.evaluate.background import background_summary, dataset_background_boxes, segment_background
from rossam_geo.evaluate.evaluation import Evaluation, evaluate
from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.metrics import DEFAULT_DILATION_RATIO, dilation_px
from rossam_geo.evaluate.segmenter import (
    MaskResultLike,
    ProgressCallback,
    SegmenterFactory,
    SegmenterLike,
    default_segmenter_factory,
    engine_tta,
)
from rossam_geo.evaluate.sources import GroundTruth, Prediction, Predictions, read_coco_ground_truth

ANNOTATIONS_NAME = "annotations.json"


@dataclass
class CocoDataset:
    """A COCO dataset folder read as ground truth.

    Attributes:
        root: the folder.
        gt: ground-truth objects (possibly limited to the first ``max_objects``).
        image_paths: image key -> image file.
    """

    root: Path
    gt: GroundTruth
    image_paths: dict[str, Path] = field(default_factory=dict)


def load_coco_dataset(root: str | Path, max_objects: int | None = None) -> CocoDataset:
    """Read ``root/annotations.json`` and locate its images.

    Args:
        root: dataset folder.
        max_objects: keep only the first N annotations in file order; None keeps all.

    Raises:
        InputError: no annotations file, or ``max_objects`` < 1.
    """
    root = Path(root)
    annotations = root / ANNOTATIONS_NAME
    if not annotations.is_file():
        raise InputError(
            f"{annotations} not found; a dataset folder needs {ANNOTATIONS_NAME} beside its images"
        )
    if max_objects is not None and max_objects < 1:
        raise InputError(f"--max-objects must be at least 1, got {max_objects}")
    gt = read_coco_ground_truth(annotations)
    if max_objects is not None:
        gt = gt.subset(list(gt.objects)[:max_objects])
    paths = {key: root / grid.name for key, grid in gt.images.items()}
    return CocoDataset(root=root, gt=gt, image_paths=paths)


def read_image(path: Path) -> np.ndarray:
    """Read a whole image as (H, W, 3) uint8 RGB through the raster reader.

    Single-band images are replicated to gray RGB; non-uint8 data are stretched (2-98 percentiles).

    Raises:
        RasterError: the file cannot be read.
    """
    from rossam_geo.io import open_raster

    with open_raster(path) as reader:
        rgb, _valid = reader.read_window_rgb(0, 0, reader.info.width, reader.info.height)
    return rgb


@dataclass
class EngineRun:
    """Predictions of one engine over a dataset, with timings.

    Attributes:
        predictions: per-object predictions matched to the dataset's ground truth.
        segment_seconds: wall time spent in ``segment_array`` calls on the objects, all images together.
        load_seconds: time to build the segmenter (model loading).
        n_segmented: objects passed to the segmenter.
        background: one row per background box: ``image``, ``box_px_xyxy``, ``score`` (None when the engine
            failed on the image), ``status``, ``reason`` and ``pred_area_px``.
    """

    predictions: Predictions
    segment_seconds: float
    load_seconds: float
    n_segmented: int
    background: list[dict[str, Any]] = field(default_factory=list)


def run_engine(
    dataset: CocoDataset,
    engine: str,
    segmenter: SegmenterLike,
    *,
    load_seconds: float = 0.0,
    on_image: ProgressCallback | None = None,
    background_boxes: Mapping[str, np.ndarray] | None = None,
) -> EngineRun:
    """Segment every ground-truth box of the dataset with one segmenter.

    A failing image (unreadable file, engine exception, wrong number of results) marks its objects as
    ``"error"`` with the reason; the other images proceed.

    Args:
        dataset: the dataset.
        engine: engine name, for progress messages.
        segmenter: runs the engine.
        load_seconds: time it took to build ``segmenter``, reported as is.
        on_image: progress callback after each image.
        background_boxes: image key -> (M, 4) XYXY boxes over background, segmented after the image's
            objects (not timed); their results go to :attr:`EngineRun.background`.
    """
    gt = dataset.gt
    by_image: dict[str, list[str]] = {}
    for oid, obj in gt.objects.items():
        by_image.setdefault(obj.image_id, []).append(oid)
    matched: dict[str, Prediction] = {}
    background: list[dict[str, Any]] = []
    seconds = 0.0
    n_segmented = 0
    for done, (key, ids) in enumerate(by_image.items(), start=1):
        grid = gt.images[key]
        usable = [i for i in ids if gt.objects[i].box_px_xyxy is not None]
        for oid in ids:
            if gt.objects[oid].box_px_xyxy is None:
                matched[oid] = Prediction(oid, None, None, "error", "ground truth has neither box nor mask")
        try:
            image = read_image(dataset.image_paths[key])
            if image.shape[:2] != grid.shape:
                raise InputError(
                    f"image {grid.name} is {image.shape[0]}x{image.shape[1]} px but the annotations say "
                    f"{grid.height}x{grid.width}"
                )
            boxes = np.array([gt.objects[i].box_px_xyxy for i in usable], dtype=np.float64).reshape(-1, 4)
            start = time.perf_counter()
            results = list(segmenter.segment_array(image, boxes))
            seconds += time.perf_counter() - start
            n_segmented += len(usable)
            if len(results) != len(usable):
                raise InputError(f"the engine returned {len(results)} results for {len(usable)} boxes")
        except Exception as exc:  # one image's failure is reported on its objects; the run goes on
            reason = f"{type(exc).__name__}: {exc}"
            for oid in usable:
                matched[oid] = Prediction(oid, None, None, "error", reason)
        else:
            for oid, result in zip(usable, results, strict=True):
                matched[oid] = _prediction_from_result(oid, result, grid.shape)
            bg_boxes = (background_boxes or {}).get(key)
            if bg_boxes is not None and len(bg_boxes):
                background.extend(segment_background(segmenter, image, bg_boxes, grid.name))
        if on_image is not None:
            on_image(engine, grid.name, done, len(by_image))
    predictions = Predictions(matched=matched, unmatched_ids=[], source=f"engine {engine}")
    return EngineRun(
        predictions,
        segment_seconds=seconds,
        load_seconds=load_seconds,
        n_segmented=n_segmented,
        background=background,
    )


def _prediction_from_result(oid: str, result: MaskResultLike, image_shape: tuple[int, int]) -> Prediction:
    mask = np.asarray(result.mask)
    score = None if result.score is None else float(result.score)
    status = str(getattr(result, "status", "ok") or "ok")
    reason = str(getattr(result, "reason", "") or "")
    if mask.shape != tuple(image_shape):
        return Prediction(
            oid, None, score, "error", f"mask shape {mask.shape} differs from image {image_shape}"
        )
    return Prediction(oid, CroppedMask.from_full(mask), score, status, reason)


@dataclass
class DatasetEvaluation:
    """All engines' evaluations on one dataset.

    Attributes:
        dataset: the dataset folder.
        evaluations: engine -> evaluation (absent for engines that failed to start).
        errors: engine -> why it could not run.
        report: JSON-ready dict with the settings and every engine's report.
    """

    dataset: Path
    evaluations: dict[str, Evaluation]
    errors: dict[str, str]
    report: dict[str, Any]


def evaluate_dataset(
    root: str | Path,
    engines: Sequence[str],
    *,
    weights: Mapping[str, str | None] | None = None,
    device: str = "auto",
    max_objects: int | None = None,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    segmenter_factory: SegmenterFactory | None = None,
    on_image: ProgressCallback | None = None,
    background_boxes: int = 0,
    background_seed: int = 0,
    engine_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> DatasetEvaluation:
    """Run each engine on the dataset's ground-truth boxes and score all of them on the same objects.

    Args:
        root: dataset folder (``annotations.json`` + images).
        engines: engine names, e.g. ``["box", "grabcut"]``.
        weights: engine -> weights path (engines not listed get None).
        device: device for model engines (``auto``, ``cpu``, ``cuda``...).
        max_objects: evaluate only the first N annotations.
        dilation_ratio: Boundary IoU band width as a fraction of the diagonal.
        segmenter_factory: builds a segmenter per engine; default :class:`rossam_geo.api.Segmenter`.
        on_image: progress callback after each image.
        background_boxes: also prompt this many seeded boxes over background (no ground-truth box inside),
            the same for every engine, and report their scores under each engine's ``background``.
        background_seed: seed of the background boxes.
        engine_options: engine -> further options of the default segmenter factory, e.g.
            ``{"rossam": {"tta": "none"}}``; recorded in each engine's ``settings``.

    Returns:
        The evaluations; an engine that cannot be built is recorded in ``errors`` and the others still run.
    """
    if not engines:
        raise InputError("no engine given; pass --engines box,grabcut (comma-separated)")
    if background_boxes < 0:
        raise InputError(f"--background-boxes must be >= 0, got {background_boxes}")
    if engine_options and segmenter_factory is not None:
        raise InputError("engine options apply to the default segmenter factory; pass them to your factory")
    unknown = sorted(set(engine_options or {}) - set(engines))
    if unknown:
        raise InputError(f"engine options given for {', '.join(unknown)}, which is not among the engines")
    dilation_px(1, 1, dilation_ratio)
    dataset = load_coco_dataset(root, max_objects)
    background = dataset_background_boxes(dataset.gt, background_boxes, background_seed)
    options = {name: dict(values) for name, values in (engine_options or {}).items()}
    weights = dict(weights or {})
    evaluations: dict[str, Evaluation] = {}
    errors: dict[str, str] = {}
    engine_reports: dict[str, Any] = {}
    for engine in engines:
        start = time.perf_counter()
        try:
            if segmenter_factory is not None:
                segmenter = segmenter_factory(engine, weights.get(engine), device)
            else:
                segmenter = default_segmenter_factory(
                    engine, weights.get(engine), device, **options.get(engine, {})
                )
        except RossamError as exc:
            errors[engine] = str(exc)
            engine_reports[engine] = {"error": str(exc)}
            continue
        load_seconds = time.perf_counter() - start
        run = run_engine(
            dataset,
            engine,
            segmenter,
            load_seconds=load_seconds,
            on_image=on_image,
            background_boxes=background,
        )
        evaluation = evaluate(
            dataset.gt,
            run.predictions,
            dilation_ratio=dilation_ratio,
            settings={
                "engine": engine,
                "weights": weights.get(engine),
                "device": device,
                "tta": engine_tta(segmenter),
                **({"options": options[engine]} if engine in options else {}),
            },
        )
        evaluation.report["timing"] = {
            "load_seconds": run.load_seconds,
            "segment_seconds": run.segment_seconds,
            "objects_segmented": run.n_segmented,
            "seconds_per_object": run.segment_seconds / run.n_segmented if run.n_segmented else None,
        }
        if background_boxes:
            evaluation.report["background"] = background_summary(run.background)
        evaluations[engine] = evaluation
        engine_reports[engine] = evaluation.report
    report = {
        "dataset": str(dataset.root),
        "annotations": str(dataset.root / ANNOTATIONS_NAME),
        "n_images": len(dataset.gt.images),
        "n_objects": len(dataset.gt.objects),
        "max_objects": max_objects,
        "dilation_ratio": dilation_ratio,
        "device": device,
        "background_boxes": {
            "requested": background_boxes,
            "drawn": int(sum(len(b) for b in background.values())),
            "seed": background_seed,
        },
        "engines": engine_reports,
    }
    return DatasetEvaluation(dataset=dataset.root, evaluations=evaluations, errors=errors, report=report)
