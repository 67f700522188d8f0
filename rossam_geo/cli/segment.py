"""``rossam-geo segment SCENE PROMPTS -o OUT.gpkg``: one polygon per prompt box."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from rossam_geo.cli.options import (
    crop_options,
    engine_options,
    speed_engine_options,
    speed_options,
    verbosity_options,
)
from rossam_geo.pipeline.polygons import DEFAULT_MIN_REGION_PX


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scene", type=click.Path(exists=True))
@click.argument("prompts", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="Output GeoPackage."
)
@click.option("--layer-name", default="objects", show_default=True, help="Output layer.")
@click.option("--prompt-layer", default=None, help="Layer of a multi-layer prompt file.")
@engine_options
@speed_options
@crop_options
@click.option(
    "--simplify", "simplify_px", type=click.FloatRange(min=0), default=0.0, help="Tolerance in pixels."
)
@click.option(
    "--min-region",
    "min_region_px",
    type=click.FloatRange(min=0),
    default=DEFAULT_MIN_REGION_PX,
    show_default=True,
    help="Remove holes and islands smaller than this many pixels before polygonizing (0: keep them).",
)
@click.option(
    "--all-parts/--largest-part",
    default=False,
    show_default=True,
    help="Keep every mask part overlapping the box, or only the largest.",
)
@click.option("--output-crs", default=None, help="CRS of the output polygons (default: the scene's).")
@click.option("--prompts-crs", default=None, help="CRS of CSV prompt coordinates (e.g. EPSG:4326).")
@click.option("--pixel", is_flag=True, help="Prompt coordinates are scene pixels (x right, y down).")
@click.option(
    "--class-field", default=None, help="Prompt attribute holding the class (default: class/label)."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--append", is_flag=True, help="Add the features to an existing output file.")
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
def segment(
    scene: str,
    prompts: str,
    output: str,
    layer_name: str,
    prompt_layer: str | None,
    engine: str,
    weights: str | None,
    device: str,
    batch_size: int | None,
    precision: str,
    attention: str,
    compile_encoder: bool | None,
    tta: str,
    crop_size: int,
    upsample: float,
    no_crop: bool,
    bands: list[int] | None,
    simplify_px: float,
    min_region_px: float,
    all_parts: bool,
    output_crs: str | None,
    prompts_crs: str | None,
    pixel: bool,
    class_field: str | None,
    overwrite: bool,
    append: bool,
    resume: bool,
    preview: str | None,
    scheduler: str | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Segment one object per prompt box of PROMPTS in SCENE and write polygons to a GeoPackage.

    PROMPTS: GeoPackage, GeoJSON, Shapefile or FlatGeobuf (box envelopes, any CRS), CSV (xmin,ymin,xmax,ymax
    with --prompts-crs or --pixel) or COCO JSON (pixel boxes of the image named like SCENE).

    Features are written in chunks as the run goes (each chunk an atomic write), so an interrupted run keeps
    what it finished; --resume then segments only the prompts missing from the output.
    """
    from rich.console import Console

    from rossam_geo.errors import RossamError

    console = Console(stderr=True, quiet=quiet)
    if overwrite and append:
        raise click.UsageError("use either --overwrite or --append, not both")
    if overwrite and resume:
        raise click.UsageError(
            "use either --overwrite (start again) or --resume (keep the features already written), not both"
        )
    mode = "overwrite" if overwrite else "resume" if resume else "append" if append else "create"
    out_path = Path(output)
    if out_path.exists() and mode == "create":
        raise click.ClickException(
            f"output {output!r} exists; use --overwrite to replace it or --append to add to it "
            "(--resume to finish an interrupted run)"
        )
    if preview is not None and Path(preview).exists() and not overwrite:
        raise click.ClickException(f"preview {preview!r} exists; use --overwrite to replace it")
    if out_path.suffix.lower() != ".gpkg":
        raise click.ClickException(f"output {output!r} must be a GeoPackage with the .gpkg extension")
    # Output folders are created up front, so a long run never fails at the very end for want of one.
    for target in (out_path, Path(preview) if preview is not None else None):
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
    speed = speed_engine_options(engine, precision, attention, compile_encoder, tta)
    if scheduler is not None:
        _run_distributed(scene, prompts, output, layer_name, mode, scheduler, preview, console, locals())
        return
    try:
        result = _run(
            scene,
            prompts,
            output=out_path,
            out_layer=layer_name,
            mode=mode,
            engine=engine,
            weights=weights,
            device=device,
            engine_options=speed,
            batch_size=batch_size,
            crop_size=crop_size,
            upsample=upsample,
            crop=not no_crop,
            bands=bands,
            simplify_px=simplify_px,
            min_region_px=min_region_px,
            all_parts=all_parts,
            output_crs=output_crs,
            boxes_crs=prompts_crs,
            layer=prompt_layer,
            class_field=class_field,
            pixel=pixel,
            progress=not quiet,
        )
        if preview is not None:
            _write_preview(result, scene, bands, preview)
    except RossamError as exc:
        raise click.ClickException(str(exc)) from exc
    _summary(console, result, output, layer_name, verbose)


def _run_distributed(
    scene: str,
    prompts: str,
    output: str,
    layer_name: str,
    mode: str,
    scheduler: str,
    preview: str | None,
    console: Any,
    o: dict[str, Any],
) -> None:
    """``--scheduler``: one Dask task per scene of SCENE (a raster or a folder), into one GeoPackage."""
    from rossam_geo.distributed import segment_command
    from rossam_geo.errors import RossamError

    if preview is not None:
        raise click.UsageError("--preview draws one scene; run without --scheduler for a preview")
    try:
        if mode == "resume":
            _check_distributed_resume(output, layer_name, o["engine"])
        result = segment_command(
            [scene],
            prompts,
            output,
            scheduler=scheduler,
            mode=mode,  # type: ignore[arg-type]
            out_layer=layer_name,
            console=console,
            engine=o["engine"],
            weights=o["weights"],
            device=o["device"],
            batch_size=o["batch_size"],
            engine_options=o["speed"],
            crop_size=o["crop_size"],
            upsample=o["upsample"],
            crop=not o["no_crop"],
            bands=o["bands"],
            simplify_px=o["simplify_px"],
            min_region_px=o["min_region_px"],
            all_parts=o["all_parts"],
            output_crs=o["output_crs"],
            boxes_crs=o["prompts_crs"],
            layer=o["prompt_layer"],
            class_field=o["class_field"],
            pixel=o["pixel"],
        )
    except RossamError as exc:
        raise click.ClickException(str(exc)) from exc
    if result.failed:
        raise SystemExit(1)


def _check_distributed_resume(output: str, layer_name: str, engine: str) -> None:
    """With --scheduler the engine is built on the workers only, so --resume compares engine names."""
    from rossam_geo import io
    from rossam_geo.api import RESUME_FIELDS, check_resumable

    table = io.read_layer_table(output, layer_name, list(RESUME_FIELDS))
    if table is not None:
        check_resumable(table, output, layer_name, engine)


def _run(
    scene: str,
    prompts: str,
    *,
    output: Path,
    out_layer: str,
    mode: str,
    engine: str,
    weights: str | None,
    device: str,
    engine_options: dict[str, Any],
    **kwargs: Any,
) -> Any:
    """Build the engine, segment and write (separate so the engine build shares the error handling)."""
    from rossam_geo.api import Segmenter

    segmenter = Segmenter(
        engine, weights=weights, device=device, batch_size=kwargs.get("batch_size"), **engine_options
    )
    return segmenter.segment_to_file(scene, prompts, output, out_layer=out_layer, mode=mode, **kwargs)  # type: ignore[arg-type]


def _write_preview(result: Any, scene: str, bands: list[int] | None, preview: str) -> None:
    """Draw the boxes and polygons over the scene into ``preview``."""
    from rossam_geo import io
    from rossam_geo.pipeline.run import ReaderSource
    from rossam_geo.preview import render_preview, save_png

    with io.open_raster(scene) as reader:
        stretch = reader.compute_stretch(bands) if reader.info.dtype != "uint8" else None
        source = ReaderSource(reader, bands=bands, stretch=stretch)
        image = render_preview(
            source,
            result.boxes_px_xyxy,
            result.geometries_scene,
            reader.info.transform,
            statuses=list(result.features["status"]),
        )
    save_png(image, preview)


def _summary(console: Any, result: Any, output: str, layer: str, verbose: int) -> None:
    """Counts of ok / skipped / failed boxes, reasons, output and time per box."""
    from rich.markup import escape

    features = result.features
    statuses = Counter(features["status"])
    total = len(features)
    per_box = result.seconds / total if total else 0.0
    console.print(
        f"[bold]{total}[/] boxes: [green]{statuses.get('ok', 0)} ok[/], "
        f"[yellow]{statuses.get('skipped', 0)} skipped[/], [red]{statuses.get('failed', 0)} failed[/]"
    )
    problems = features[features["status"] != "ok"]
    for reason, count in Counter(problems["reason"]).most_common():
        console.print(f"  {count} x {escape(str(reason))}")
    if verbose:
        for _, row in problems.iterrows():
            console.print(escape(f"  prompt {row['prompt_id']}: {row['status']}: {row['reason']}"))
    if result.already_done:
        console.print(f"{result.already_done} boxes were already in the output (resumed run)")
    console.print(
        f"wrote {output} (layer {layer!r}); {result.seconds:.2f} s, {per_box * 1000:.1f} ms per box"
    )
