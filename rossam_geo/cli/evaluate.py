"""``rossam-geo evaluate``: score predictions against ground truth, or compare engines on a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rossam_geo.cli.errors import user_errors
from rossam_geo.cli.options import tta_option
from rossam_geo.engines import weight_free_engines


def parse_weights(values: tuple[str, ...], engines: list[str]) -> dict[str, str | None]:
    """Map ``--weights`` values (``ENGINE=PATH`` or a bare ``PATH``) to engines.

    A bare path goes to every listed engine that takes weights; ``ENGINE=PATH`` to that engine only.
    """
    from rossam_geo.errors import InputError

    mapping: dict[str, str | None] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if sep and name in engines:
            mapping[name] = path
        elif sep and not Path(value).exists():
            raise InputError(
                f"--weights {value!r} names engine {name!r}, which is not in --engines {engines}"
            )
        else:
            for engine in engines:
                if engine not in weight_free_engines():  # a bare --weights PATH is not given to them
                    mapping.setdefault(engine, value)
    return mapping


def _parse_engines(text: str) -> list[str]:
    from rossam_geo.engines import engine_names
    from rossam_geo.errors import InputError

    names = [n.strip() for n in text.split(",") if n.strip()]
    known = engine_names()
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(
            f"unknown engine(s) {unknown or text!r} in --engines; choose from: {', '.join(known)}"
        )
    return list(dict.fromkeys(names))


def _echo_progress(engine: str, image: str, done: int, total: int) -> None:
    click.echo(f"[{engine}] {done}/{total} {image}", err=True)


@click.command("evaluate")
@click.argument("pred", required=False, type=click.Path(path_type=Path))
@click.argument("gt", required=False, type=click.Path(path_type=Path))
@click.option(
    "--raster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Image the ground-truth polygons (or georeferenced predictions over COCO ground truth) lie on.",
)
@click.option(
    "--dataset",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="COCO dataset folder (annotations.json + images): run --engines on its boxes and compare them.",
)
@click.option(
    "--engines", default="box,grabcut", show_default=True, help="Comma-separated engines (dataset mode)."
)
@click.option(
    "--weights", multiple=True, help="Weights for model engines: PATH, or ENGINE=PATH (repeatable)."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@tta_option("Dataset mode, SAM-family engines")
@click.option("--max-objects", type=click.IntRange(min=1), help="Dataset mode: only the first N annotations.")
@click.option(
    "--background-boxes",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Dataset mode: also prompt N seeded object-sized boxes over background; report their mean score.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("evaluation"),
    show_default=True,
    help="Folder for evaluation.json, evaluation.md and the PNG plots.",
)
@click.option(
    "--dilation-ratio",
    type=float,
    default=0.02,
    show_default=True,
    help="Boundary IoU band width as a fraction of the image diagonal.",
)
@click.option("--gt-layer", help="Layer of a multi-layer ground-truth file.")
@click.option("--pred-layer", help="Layer of a multi-layer prediction file.")
@click.option("--gt-id-field", help="Ground-truth id field matched to prompt_id (default: feature id).")
@click.option("--gt-class-field", help="Ground-truth class field (default: 'class' when present).")
@click.option(
    "--match",
    type=click.Choice(["id", "position", "overlap"]),
    default="id",
    show_default=True,
    help="How predictions find their ground-truth object: by id (prompt_id, COCO id, mask file name); for "
    "predictions without ids, by position (k-th to k-th) or by overlap (largest IoU, one to one).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out-dir.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@user_errors
def evaluate(
    pred: Path | None,
    gt: Path | None,
    raster: Path | None,
    dataset: Path | None,
    engines: str,
    weights: tuple[str, ...],
    device: str,
    tta: str,
    max_objects: int | None,
    background_boxes: int,
    out_dir: Path,
    dilation_ratio: float,
    gt_layer: str | None,
    pred_layer: str | None,
    gt_id_field: str | None,
    gt_class_field: str | None,
    match: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Score PRED against GT (IoU, Boundary IoU; per object, image, class and size).

    PRED: a GeoPackage from `rossam-geo segment`, a COCO results JSON, or a folder of <prompt_id>.png/.tif
    masks. GT: a COCO JSON with masks, or polygons over --raster. Objects are matched by prompt id;
    predictions without ids need --match position or --match overlap.

    With --dataset DIR instead, each of --engines segments the dataset's ground-truth boxes and one
    comparison table is printed.
    """
    from rossam_geo.errors import RossamError
    from rossam_geo.io.atomic import check_writable_folder

    try:
        if dataset is not None:
            if pred is not None or gt is not None:
                raise click.UsageError("give either PRED GT or --dataset DIR, not both")
            if match != "id":
                raise click.UsageError("--match applies to PRED GT, not to --dataset")
            check_writable_folder(out_dir, option="--out-dir")
            _run_dataset(
                dataset,
                engines,
                weights,
                device,
                tta,
                max_objects,
                background_boxes,
                out_dir,
                dilation_ratio,
                overwrite,
                quiet,
            )
        else:
            if pred is None or gt is None:
                raise click.UsageError("give PRED and GT, or --dataset DIR")
            check_writable_folder(out_dir, option="--out-dir")
            if background_boxes:
                raise click.UsageError("--background-boxes needs --dataset DIR (an engine to prompt)")
            if tta != "auto":
                raise click.UsageError("--tta needs --dataset DIR (an engine to run)")
            _run_files(
                pred,
                gt,
                raster,
                out_dir,
                dilation_ratio,
                gt_layer,
                pred_layer,
                gt_id_field,
                gt_class_field,
                match,
                overwrite,
            )
    except RossamError as exc:
        raise click.ClickException(str(exc)) from None


def _run_files(
    pred: Path,
    gt: Path,
    raster: Path | None,
    out_dir: Path,
    dilation_ratio: float,
    gt_layer: str | None,
    pred_layer: str | None,
    gt_id_field: str | None,
    gt_class_field: str | None,
    match: str,
    overwrite: bool,
) -> None:
    from rossam_geo.evaluate.evaluation import evaluate_files
    from rossam_geo.evaluate.report import check_outputs_free, markdown_report, write_outputs
    from rossam_geo.evaluate.rules import check_rule

    check_outputs_free([out_dir / "evaluation.json"], overwrite)
    result = evaluate_files(
        pred,
        gt,
        raster=raster,
        gt_layer=gt_layer,
        pred_layer=pred_layer,
        gt_id_field=gt_id_field,
        gt_class_field=gt_class_field,
        dilation_ratio=dilation_ratio,
        match=check_rule(match),
    )
    table = markdown_report(result.report)
    paths = write_outputs(
        out_dir, result.report, table, {"predictions": result.object_rows}, overwrite=overwrite
    )
    click.echo(table)
    _echo_footer(result.report, paths)


def _run_dataset(
    dataset: Path,
    engines_text: str,
    weights_values: tuple[str, ...],
    device: str,
    tta: str,
    max_objects: int | None,
    background_boxes: int,
    out_dir: Path,
    dilation_ratio: float,
    overwrite: bool,
    quiet: bool,
) -> None:
    from rossam_geo.engines import weighted_engines
    from rossam_geo.evaluate.dataset import evaluate_dataset
    from rossam_geo.evaluate.report import check_outputs_free, comparison_table, write_outputs

    engines = _parse_engines(engines_text)
    weights = parse_weights(weights_values, engines)
    engine_options: dict[str, dict[str, Any]] = {}
    if tta != "auto":
        engine_options = {name: {"tta": tta} for name in engines if name in weighted_engines()}
        if not engine_options:
            names = ", ".join(weighted_engines())
            raise click.UsageError(f"--tta applies to the {names} engines; --engines has none of them")
    check_outputs_free([out_dir / "evaluation.json"], overwrite)
    result = evaluate_dataset(
        dataset,
        engines,
        weights=weights,
        device=device,
        max_objects=max_objects,
        dilation_ratio=dilation_ratio,
        on_image=None if quiet else _echo_progress,
        background_boxes=background_boxes,
        engine_options=engine_options,
    )
    table = comparison_table(result.report["engines"])
    drawn = result.report["background_boxes"]
    background = f", {drawn['drawn']} background boxes (seed {drawn['seed']})" if background_boxes else ""
    augmented = [
        f"{name} {ev.report['settings']['tta']}"
        for name, ev in result.evaluations.items()
        if ev.report["settings"].get("tta") is not None
    ]
    augmentation = f", test-time augmentation {', '.join(augmented)}" if augmented else ""
    header = (
        f"Dataset {dataset}: {result.report['n_objects']} objects in {result.report['n_images']} images"
        f"{background}{augmentation}, Boundary IoU dilation ratio {dilation_ratio}. IoUs in percent, engine "
        "scores as fractions.\n\n"
    )
    rows = {name: ev.object_rows for name, ev in result.evaluations.items()}
    paths = write_outputs(out_dir, result.report, header + table, rows, overwrite=overwrite)
    click.echo(header + table)
    for engine, evaluation in result.evaluations.items():
        click.echo(f"{engine}: {_status_line(evaluation.report)}")
    for engine, message in result.errors.items():
        click.echo(f"engine {engine} did not run: {message}", err=True)
    click.echo("outputs: " + ", ".join(str(p) for p in paths.values()))


def _status_line(report: dict[str, Any]) -> str:
    """Objects per status and the three most frequent non-empty reasons, on one line."""
    from collections import Counter

    counts = ", ".join(f"{k} {v}" for k, v in report["status_counts"].items()) or "none"
    reasons = Counter(o["reason"] for o in report["objects"] if o["reason"]).most_common(3)
    if not reasons:
        return counts
    return counts + "; reasons: " + "; ".join(f"{n} x {why}" for why, n in reasons)


def _echo_footer(report: dict[str, Any], paths: dict[str, Path]) -> None:
    from collections import Counter

    click.echo(f"objects by status: {_status_line(report)}")
    unmatched = report["unmatched_predictions"]
    if unmatched:
        shown = ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else "")
        click.echo(f"{len(unmatched)} prediction(s) without ground truth, ignored: {shown}")
    skipped = report["skipped_ground_truth"]
    if skipped:
        reasons = Counter(item["reason"] for item in skipped).most_common(3)
        why = "; ".join(f"{n} x {reason}" for reason, n in reasons)
        click.echo(f"{len(skipped)} ground-truth annotation(s) left out: {why} (ids in the JSON)")
    repaired = report.get("repaired_ground_truth", [])
    if repaired:
        shown = ", ".join(repaired[:10]) + (" ..." if len(repaired) > 10 else "")
        click.echo(f"{len(repaired)} invalid ground-truth polygon(s) repaired with make_valid: {shown}")
    click.echo("outputs: " + ", ".join(str(p) for p in paths.values()))
