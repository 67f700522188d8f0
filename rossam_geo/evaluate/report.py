"""Aggregating scores into a report: JSON, Markdown tables and PNG plots.

Scores in the JSON are fractions in [0, 1]; the Markdown tables show them in percent, as the paper does.
Groups without objects have ``null`` statistics. The engine's own ``score`` (a predicted IoU for the SAM
family) is judged by its Spearman rank correlation with the actual mask IoU, over the objects that carry a
score; it is ``null`` when undefined (fewer than 3 scored objects, or a constant score).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rossam_geo.errors import OutputExistsError
from rossam_geo.evaluate.matching import ImageRow, ObjectRow
from rossam_geo.evaluate.metrics import spearman_correlation
from rossam_geo.io.atomic import write_bytes_atomic

#: Per-object score names aggregated in every group.
OBJECT_METRICS = ("iou", "biou", "biou_object", "boundary")
SIZE_GROUPS = ("small", "medium", "large", "under_32x32")


def _stat(values: Sequence[float], fn: Any) -> float | None:
    return float(fn(values)) if len(values) else None


def summarize(rows: Sequence[ObjectRow]) -> dict[str, Any]:
    """Count, mean and median of each per-object score over ``rows``.

    Returns:
        ``{"n": int, "mean_iou": float | None, "median_iou": ..., "mean_biou": ..., ...}`` for the scores in
        :data:`OBJECT_METRICS`, plus ``n_scored`` (objects with a finite ``score``), ``mean_score`` and
        ``spearman_score_iou`` (Spearman correlation of ``score`` with ``iou`` over the scored objects).
    """
    out: dict[str, Any] = {"n": len(rows)}
    for name in OBJECT_METRICS:
        values = [getattr(r, name) for r in rows]
        out[f"mean_{name}"] = _stat(values, np.mean)
        out[f"median_{name}"] = _stat(values, np.median)
    scored = [r for r in rows if r.score is not None and math.isfinite(r.score)]
    scores = [float(r.score) for r in scored if r.score is not None]
    out["n_scored"] = len(scored)
    out["mean_score"] = _stat(scores, np.mean)
    out["spearman_score_iou"] = spearman_correlation(np.array(scores), np.array([r.iou for r in scored]))
    return out


def summarize_images(rows: Sequence[ImageRow]) -> dict[str, Any]:
    """Per-image means (each image weighs the same) and the per-image rows."""
    return {
        "n_images": len(rows),
        "mean_iou": _stat([r.iou for r in rows], np.mean),
        "mean_biou": _stat([r.biou for r in rows], np.mean),
        "mean_boundary": _stat([r.boundary for r in rows], np.mean),
        "images": [r.to_dict() for r in rows],
    }


def build_report(
    object_rows: Sequence[ObjectRow],
    image_rows: Sequence[ImageRow],
    *,
    settings: Mapping[str, Any] | None = None,
    unmatched_predictions: Iterable[str] = (),
    skipped_ground_truth: Iterable[tuple[str, str]] = (),
    repaired_ground_truth: Iterable[str] = (),
) -> dict[str, Any]:
    """Assemble all numbers of one evaluation into a JSON-ready dict.

    Args:
        object_rows: one row per ground-truth object.
        image_rows: one row per image.
        settings: what produced the numbers (paths, dilation ratio, engine...), stored as given.
        unmatched_predictions: ids of predictions without ground truth.
        skipped_ground_truth: (id, reason) of ground-truth annotations left out.
        repaired_ground_truth: ids of ground-truth objects whose invalid polygon was repaired (make_valid).

    Returns:
        A dict with keys ``settings``, ``overall``, ``per_image``, ``per_class``, ``per_size``,
        ``status_counts``, ``unmatched_predictions``, ``skipped_ground_truth``, ``repaired_ground_truth``
        and ``objects``.
    """
    per_class: dict[str, list[ObjectRow]] = {}
    for row in object_rows:
        per_class.setdefault(row.class_name if row.class_name is not None else "(none)", []).append(row)
    per_size = {name: [r for r in object_rows if r.size == name] for name in SIZE_GROUPS[:3]}
    per_size["under_32x32"] = [r for r in object_rows if r.under_32x32]
    return {
        "settings": dict(settings or {}),
        "overall": summarize(object_rows),
        "per_image": summarize_images(image_rows),
        "per_class": {name: summarize(rows) for name, rows in sorted(per_class.items())},
        "per_size": {name: summarize(rows) for name, rows in per_size.items()},
        "status_counts": dict(sorted(Counter(r.status for r in object_rows).items())),
        "unmatched_predictions": [str(i) for i in unmatched_predictions],
        "skipped_ground_truth": [{"id": i, "reason": why} for i, why in skipped_ground_truth],
        "repaired_ground_truth": [str(i) for i in repaired_ground_truth],
        "objects": [r.to_dict() for r in object_rows],
    }


def _pct(value: float | None) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100.0 * value:.2f}"
    )


def _fraction(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def markdown_report(report: Mapping[str, Any]) -> str:
    """One Markdown table of a report: overall, per image, per size bucket and per class, in percent.

    The last two columns judge the engine's score: its Spearman correlation with IoU and its mean, both as
    fractions.
    """
    header = (
        "| group | n | mean IoU | median IoU | mean BIoU | median BIoU | mean boundary "
        "| mean BIoU (obj. d) | score-IoU Spearman | mean score |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]

    def add(label: str, s: Mapping[str, Any]) -> None:
        lines.append(
            f"| {label} | {s['n']} | {_pct(s['mean_iou'])} | {_pct(s['median_iou'])} "
            f"| {_pct(s['mean_biou'])} | {_pct(s['median_biou'])} | {_pct(s['mean_boundary'])} "
            f"| {_pct(s['mean_biou_object'])} | {_fraction(s['spearman_score_iou'])} "
            f"| {_fraction(s['mean_score'])} |"
        )

    add("all objects", report["overall"])
    img = report["per_image"]
    lines.append(
        f"| per image (union) | {img['n_images']} img | {_pct(img['mean_iou'])} | - "
        f"| {_pct(img['mean_biou'])} | - | {_pct(img['mean_boundary'])} | - | - | - |"
    )
    for name in SIZE_GROUPS:
        add(f"size: {name}", report["per_size"][name])
    for name, s in report["per_class"].items():
        add(f"class: {name}", s)
    return "\n".join(lines) + "\n"


def comparison_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """One Markdown table comparing engines (rows) on the same objects, IoUs in percent.

    Each report may carry ``timing.seconds_per_object`` and ``background`` (boxes over background, see
    :func:`rossam_geo.evaluate.dataset.evaluate_dataset`); engines that failed to run carry ``error``. The
    score columns are fractions: Spearman correlation of score with IoU, mean score on the objects, and mean
    score on the background boxes (with their count).
    """
    lines = [
        "| engine | mean IoU | mean BIoU | image IoU | image BIoU | under_32x32 IoU | n objects "
        "| s / object | score-IoU Spearman | mean score | background score (n) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rep in reports.items():
        if "error" in rep:
            lines.append(f"| {name} | failed: {rep['error']} | | | | | | | | | |")
            continue
        overall, img, tiny = rep["overall"], rep["per_image"], rep["per_size"]["under_32x32"]
        seconds = rep.get("timing", {}).get("seconds_per_object")
        sec = "-" if seconds is None else f"{seconds:.4f}"
        bg = rep.get("background")
        bg_text = "-" if bg is None else f"{_fraction(bg['mean_score'])} ({bg['n_scored']})"
        lines.append(
            f"| {name} | {_pct(overall['mean_iou'])} | {_pct(overall['mean_biou'])} "
            f"| {_pct(img['mean_iou'])} | {_pct(img['mean_biou'])} | {_pct(tiny['mean_iou'])} ({tiny['n']}) "
            f"| {overall['n']} | {sec} | {_fraction(overall['spearman_score_iou'])} "
            f"| {_fraction(overall['mean_score'])} | {bg_text} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# Files


def check_outputs_free(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise OutputExistsError when any of ``paths`` exists and ``overwrite`` is False."""
    if overwrite:
        return
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing:
        raise OutputExistsError(f"output exists: {', '.join(existing)}; pass --overwrite or choose --out-dir")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=False)
    write_bytes_atomic(path, (text + "\n").encode("utf-8"))


def _save_figure(fig: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_bytes_atomic(path, buffer.getvalue())


def plot_iou_histogram(ious_by_label: Mapping[str, Sequence[float]], path: Path) -> None:
    """PNG histogram of per-object IoU (20 bins over [0, 1]), one outline per label (engine)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for label, values in ious_by_label.items():
        ax.hist(
            np.asarray(values, dtype=float),
            bins=20,
            range=(0.0, 1.0),
            histtype="step",
            linewidth=1.6,
            label=label,
        )
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("mask IoU per object")
    ax.set_ylabel("objects")
    ax.set_title("IoU distribution")
    if ious_by_label:
        ax.legend(loc="upper left")
    fig.tight_layout()
    _save_figure(fig, path)


def plot_iou_vs_area(
    points_by_label: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path
) -> None:
    """PNG scatter of per-object IoU against ground-truth area in pixels (log x), one colour per label.

    Args:
        points_by_label: label -> (areas_px, ious); objects of zero area are drawn at 1 px.
        path: output PNG.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for label, (areas, ious) in points_by_label.items():
        x = np.maximum(np.asarray(areas, dtype=float), 1.0)
        ax.scatter(x, np.asarray(ious, dtype=float), s=10, alpha=0.6, label=label)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    for edge in (32**2, 96**2):
        ax.axvline(edge, color="0.6", linewidth=0.8, linestyle="--")
    ax.set_xlabel("ground-truth area (px, log scale)")
    ax.set_ylabel("mask IoU")
    ax.set_title("IoU against object area (dashed: 32², 96²)")
    if points_by_label:
        ax.legend(loc="lower right")
    fig.tight_layout()
    _save_figure(fig, path)


def write_outputs(
    out_dir: Path,
    data: Mapping[str, Any],
    markdown: str,
    rows_by_label: Mapping[str, Sequence[ObjectRow]],
    *,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.md``, ``iou_histogram.png`` and ``iou_vs_area.png``.

    Raises:
        OutputExistsError: one of them exists and ``overwrite`` is False (nothing is written then).

    Returns:
        Output kind -> path.
    """
    out_dir = Path(out_dir)
    paths = {
        "json": out_dir / "evaluation.json",
        "markdown": out_dir / "evaluation.md",
        "histogram": out_dir / "iou_histogram.png",
        "iou_vs_area": out_dir / "iou_vs_area.png",
    }
    check_outputs_free(paths.values(), overwrite)
    write_json(paths["json"], data)
    write_bytes_atomic(paths["markdown"], markdown.encode("utf-8"))
    plot_iou_histogram({k: [r.iou for r in rows] for k, rows in rows_by_label.items()}, paths["histogram"])
    plot_iou_vs_area(
        {k: ([r.gt_area_px for r in rows], [r.iou for r in rows]) for k, rows in rows_by_label.items()},
        paths["iou_vs_area"],
    )
    return paths
