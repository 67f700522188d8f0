"""``rossam-geo segment SCENE PROMPTS -o OUT.gpkg``: one polygon per prompt box."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from rossam_geo.cli.errors import run_status, user_errors
from rossam_geo.cli.options import (
    model_options,
    prompt_options,
    segment_options,
    speed_engine_options,
    speed_options,
    verbosity_options,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scene", type=click.Path(exists=True))
@click.argument("prompts", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="Output GeoPackage."
)
@click.option("--layer-name", default="objects", show_default=True, help="Output layer.")
@model_options
@speed_options
@segment_options
@prompt_options
@click.option(
    "--points",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Clicks that refine the boxes: a point layer (any CRS) or a CSV (x, y in the prompts' coordinates) "
    "with prompt_id and label (1 on the object, 0 off it).",
)
@click.option("--overwrite", is_flag=True, help="Replace the output layer (the file's other layers stay).")
@click.option("--append", is_flag=True, help="Add the features to the output layer.")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted run: segment only the prompts missing from the output (failed ones again).",
)
@click.option(
    "--preview",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw boxes and polygons into a PNG.",
)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address or local:N; SCENE may then be a folder of rasters (one task per scene).",
)
@verbosity_options
@user_errors
def segment(
    scene: str,
    prompts: str,
    output: str,
    layer_name: str,
    engine: str,
    weights: str | None,
    device: str,
    precision: str,
    attention: str,
    compile_encoder: bool | None,
    tta: str,
    points: str | None,
    overwrite: bool,
    append: bool,
    resume: bool,
    preview: str | None,
    scheduler: str | None,
    verbose: int,
    quiet: bool,
    **options: Any,
) -> None:
    """Segment one object per prompt box of PROMPTS in SCENE and write polygons to a GeoPackage.

    PROMPTS: GeoPackage, GeoJSON, Shapefile or FlatGeobuf (box envelopes, any CRS), CSV (xmin,ymin,xmax,ymax
    with --prompts-crs or --pixel) or COCO JSON (pixel boxes of the image named like SCENE).

    Features are written in chunks as the run goes (each chunk one transaction added to the layer), so an
    interrupted run keeps what it finished; --resume then segments only the prompts missing from the output.

    \b
    Exit status:
      0  every box was segmented (boxes outside the raster or empty are skipped, not failed)
      3  some boxes failed (their features say why), others were segmented
      4  no box got a polygon (all failed or were skipped)
      1  an error: a bad option, file or output; reported before any work, nothing written
      2  a command-line mistake (unknown option, missing file)
    """
    from rich.console import Console

    from rossam_geo.api import split_options
    from rossam_geo.io.atomic import check_writable_folder
    from rossam_geo.segmentation.scene_file import check_inputs, check_target
    from rossam_geo.segmentation.sink import OutputTarget

    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    if overwrite and append:
        raise click.UsageError("use either --overwrite or --append, not both")
    if overwrite and resume:
        raise click.UsageError(
            "use either --overwrite (start again) or --resume (keep the features already written), not both"
        )
    if points is not None and scheduler is not None:
        raise click.UsageError("--points refines the boxes of one scene; run without --scheduler")
    mode = "overwrite" if overwrite else "resume" if resume else "append" if append else "create"
    out_path = Path(output)
    if preview is not None and Path(preview).exists() and not overwrite:
        raise click.ClickException(f"preview {preview!r} exists; use --overwrite to replace it")
    speed = speed_engine_options(engine, precision, attention, compile_encoder, tta)
    run_options, read_options = split_options(options)
    target = OutputTarget(out_path, layer_name, mode)  # type: ignore[arg-type]
    if scheduler is None:
        check_target(target, prompts, read_options)
    else:
        from rossam_geo.segmentation.features import OUTPUT_COLUMNS
        from rossam_geo.validate import parse_scheduler_address

        parse_scheduler_address(scheduler)
        if preview is not None:
            raise click.UsageError("--preview draws one scene; run without --scheduler for a preview")
        target.check(fields=OUTPUT_COLUMNS)
    if preview is not None:
        check_writable_folder(Path(preview).parent, option="--preview")
    if scheduler is None:
        check_inputs(scene, prompts, run_options, read_options)
    # Output folders are created up front, so a long run never fails at the very end for want of one.
    for folder in {out_path.parent, *([Path(preview).parent] if preview is not None else [])}:
        folder.mkdir(parents=True, exist_ok=True)
    model = {"engine": engine, "weights": weights, "device": device, "engine_options": speed}
    if scheduler is not None:
        _run_distributed(scene, prompts, target, scheduler, console, model, options)
        return
    from rossam_geo.api import Segmenter

    segmenter = Segmenter(engine, weights=weights, device=device, batch_size=run_options.batch_size, **speed)
    result = segmenter.segment_to_file(
        scene,
        prompts,
        out_path,
        out_layer=layer_name,
        mode=target.mode,
        points=points,
        progress=not quiet,
        **options,
    )
    if preview is not None:
        _write_preview(result, scene, run_options.bands, preview)
    _summary(console, result, output, layer_name, verbose)
    status = run_status(Counter(result.features["status"]))
    if status:
        sys.exit(status)


def _run_distributed(
    scene: str,
    prompts: str,
    target: Any,
    scheduler: str,
    console: Any,
    model: dict[str, Any],
    options: dict[str, Any],
) -> None:
    """``--scheduler``: one Dask task per scene of SCENE (a raster or a folder), into one GeoPackage."""
    from rossam_geo.distributed.segment import segment_command

    result = segment_command(
        [scene], prompts, str(target.path), scheduler=scheduler, mode=target.mode,
        out_layer=target.layer, console=console, **model, **options,
    )  # fmt: skip
    status = run_status(result.status_counts, len(result.failed))
    if status:
        sys.exit(status)


def _write_preview(result: Any, scene: str, bands: Any, preview: str) -> None:
    """Draw the boxes and polygons over the scene into ``preview``."""
    from rossam_geo import io
    from rossam_geo.pipeline.run import ReaderSource
    from rossam_geo.preview import render_preview, save_png

    with io.open_raster(scene) as reader:
        image = render_preview(
            ReaderSource(reader, bands=bands),
            result.boxes_px_xyxy,
            result.geometries_scene,
            reader.info.transform,
            statuses=list(result.features["status"]),
        )
    save_png(image, preview)


def _summary(console: Any, result: Any, output: str, layer: str, verbose: int) -> None:
    """Counts of ok / low-score / skipped / failed boxes, reasons, output and time per box."""
    from rich.markup import escape

    features = result.features
    statuses = Counter(features["status"])
    total = len(features)
    per_box = result.seconds / total if total else 0.0
    low = f"[yellow]{statuses['low_score']} low_score[/], " if statuses.get("low_score") else ""
    console.print(
        f"[bold]{total}[/] boxes: [green]{statuses.get('ok', 0)} ok[/], {low}"
        f"[yellow]{statuses.get('skipped', 0)} skipped[/], [red]{statuses.get('failed', 0)} failed[/]"
    )
    problems = features[features["status"] != "ok"]
    for reason, count in Counter(problems["reason"]).most_common():
        console.print(f"  {count} x {escape(str(reason))}", highlight=False)
    if verbose:
        for _, row in problems.iterrows():
            console.print(
                escape(f"  prompt {row['prompt_id']}: {row['status']}: {row['reason']}"), highlight=False
            )
    if result.already_done:
        console.print(f"{result.already_done} boxes were already in the output (resumed run)")
    console.print(
        f"wrote {output} (layer {layer!r}); {result.seconds:.2f} s, {per_box * 1000:.1f} ms per box"
    )
