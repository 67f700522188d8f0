"""``rossam-geo tracks``: a mask for every (frame, track) of a tracking dataset; resumable, Dask-ready."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from rossam_geo.cli.errors import run_status, user_errors
from rossam_geo.cli.options import engine_options, parse_bands, verbosity_options
from rossam_geo.engines import weight_free_engines
from rossam_geo.pipeline.polygons import DEFAULT_MIN_REGION_PX


def _parse_class_map(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[int, str] | None:
    """Parse ``--class-map 1=airplane,2=ship``."""
    if not value:
        return None
    mapping = {}
    for item in value.split(","):
        key, sep, name = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            mapping[int(key)] = name.strip()
        except ValueError:
            raise click.BadParameter(
                f"{item!r} is not CODE=NAME, e.g. --class-map 1=airplane,2=ship"
            ) from None
    return mapping


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("frames", type=click.Path(exists=True))
@click.argument("annotations", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output GeoPackage.")
@click.option("--layer-name", default="tracks", show_default=True, help="Output layer.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "mot", "sot", "satmtb"]),
    default="auto",
    show_default=True,
    help="Annotation format: MOT text, SatSOT/VISO x,y,w,h lines, SAT-MTB boxes/*.npy.",
)
@engine_options
@click.option(
    "--crop-size", type=click.IntRange(min=8), default=512, show_default=True, help="Window side, px."
)
@click.option(
    "--upsample",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Sampling rate.",
)
@click.option(
    "--bands", callback=parse_bands, default=None, help="1-based bands used as RGB (GeoTIFF frames)."
)
@click.option(
    "--frame-numbering",
    type=click.Choice(["position", "name"]),
    default="position",
    show_default=True,
    help="Image folders: frame k = k-th file in natural order, or the file whose name holds the number k.",
)
@click.option("--class", "class_name", default=None, help="Class of every object (overrides a class column).")
@click.option(
    "--class-map", callback=_parse_class_map, default=None, help="MOT class codes, e.g. 1=airplane."
)
@click.option("--track-id", type=int, default=None, help="Track id of a single SatSOT/VISO file.")
@click.option("--min-conf", type=float, default=None, help="Drop MOT rows whose conf column is below this.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None, help="Frames per second.")
@click.option(
    "--start-time",
    default=None,
    help="ISO 8601 time of frame 1; with --fps (or a video's frame rate) gives a timestamp field.",
)
@click.option(
    "--temporal", is_flag=True, help="Refine each mask with the previous frame's mask of its track."
)
@click.option("--simplify", "simplify_px", type=click.FloatRange(min=0), default=0.0, help="Tolerance, px.")
@click.option("--all-parts/--largest-part", default=False, help="Keep every mask part touching the box.")
@click.option(
    "--min-region",
    "min_region_px",
    type=float,
    default=DEFAULT_MIN_REGION_PX,
    show_default=True,
    help="Remove holes and extra parts smaller than this many pixels before polygonizing (0: keep them).",
)
@click.option(
    "--min-score", type=float, default=None, help="Mark results whose score is below this as low_score."
)
@click.option(
    "--chunk-frames", type=click.IntRange(min=1), default=16, show_default=True, help="Frames per write."
)
@click.option(
    "--masks-dir", type=click.Path(file_okay=False), default=None, help="Per-frame uint16 mask PNGs."
)
@click.option(
    "--coco", type=click.Path(dir_okay=False), default=None, help="COCO instance JSON with RLE masks."
)
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Jump report (.csv or .json).")
@click.option(
    "--max-area-ratio",
    type=click.FloatRange(min=1),
    default=2.0,
    show_default=True,
    help="Report: flag area changes beyond this factor between consecutive frames.",
)
@click.option(
    "--min-iou",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Report: flag consecutive masks whose IoU (box centres aligned) is below this.",
)
@click.option("--scheduler", default=None, help="Dask scheduler address, or local:N for N local workers.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run into the existing output.")
@verbosity_options
@user_errors
def tracks(frames: str, annotations: str, output: str, verbose: int, **options: Any) -> None:
    """Segment every annotated object in every frame of FRAMES into one polygon per (frame, track).

    FRAMES is a folder of frames (GeoTIFF, or PNG/JPEG in pixel coordinates) or a video file; ANNOTATIONS is
    a MOT file, a SatSOT/VISO file or folder, or a SAT-MTB boxes folder. A run stopped at any point continues
    with --resume.

    \b
    Exit status:
      0  every object of every frame was segmented (or skipped)
      3  some masks or chunks failed (run again with --resume to retry failed chunks), others succeeded
      4  no mask got a polygon
      1  an error: a bad option, file or output; reported before any work
      2  a command-line mistake (unknown option, missing file)
    """
    from rich.console import Console

    console = Console(stderr=True, quiet=options["quiet"], soft_wrap=True)
    if options["overwrite"] and options["resume"]:
        raise click.UsageError("choose one of --overwrite and --resume")
    _run(frames, annotations, output, console, options)


def _check_outputs(o: dict[str, Any]) -> None:
    """Refuse, before any work, outputs that cannot be written: the layer name, the scheduler, the folders of
    the extra outputs (the GeoPackage's is checked with it)."""
    from rossam_geo.io.atomic import check_writable_folder
    from rossam_geo.segmentation.options import check_layer_name
    from rossam_geo.validate import parse_scheduler_address

    check_layer_name(o["layer_name"], "out_layer")
    if o["scheduler"]:
        parse_scheduler_address(o["scheduler"])
    for option, value in (("--masks-dir", o["masks_dir"]), ("--coco", o["coco"]), ("--report", o["report"])):
        if value:
            check_writable_folder(
                Path(value) if option == "--masks-dir" else Path(value).parent, option=option
            )
    _check_extra_outputs(o)


def _run(frames: str, annotations: str, output: str, console: Any, o: dict[str, Any]) -> None:
    from rossam_geo.segmentation.options import SegmentOptions
    from rossam_geo.video.annotations import read_annotations
    from rossam_geo.video.frames import open_frames
    from rossam_geo.video.tracks import TrackJob, output_crs_of

    started = time.perf_counter()
    options = SegmentOptions(
        bands=o["bands"],
        batch_size=o["batch_size"],
        crop_size=o["crop_size"],
        upsample=o["upsample"],
        all_parts=o["all_parts"],
        simplify_px=o["simplify_px"],
        min_region_px=o["min_region_px"],
        min_score=o["min_score"],
    )
    _check_outputs(o)
    source = open_frames(frames, number_from=o["frame_numbering"], bands=o["bands"])
    source.check(options)
    boxes = read_annotations(
        annotations,
        format=None if o["fmt"] == "auto" else o["fmt"],
        class_name=o["class_name"],
        class_names=o["class_map"],
        track_id=o["track_id"],
        frame_stems=source.frame_stems(),
        min_confidence=o["min_conf"],
    )
    crs = output_crs_of(source)
    fps = o["fps"]
    video_fps = getattr(source, "fps", None)
    if fps is None and o["start_time"] and video_fps:
        fps = video_fps
        console.print(f"timestamps use the video's frame rate, {fps:g} frames per second")
    job = TrackJob(
        frames_path=str(frames),
        number_from=o["frame_numbering"],
        engine=o["engine"],
        weights=o["weights"],
        device=o["device"],
        options=options,
        temporal=o["temporal"],
        output_crs_wkt=crs.to_wkt() if crs is not None else None,
        fps=fps,
        start_time=o["start_time"],
    )
    if o["temporal"] and o["engine"] in weight_free_engines():
        console.print(f"note: --temporal leaves the masks of the {o['engine']!r} engine unchanged")
    mode = "overwrite" if o["overwrite"] else "resume" if o["resume"] else "create"
    n_frames = len({b.frame for b in boxes})
    console.print(f"{len(boxes)} boxes in {n_frames} frames, {len({b.track_id for b in boxes})} tracks")
    result = _segment(job, boxes, output, o, mode, console)
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.status_counts.items())) or "none"
    console.print(
        f"wrote {result.written} features ({counts}) in {result.chunks} chunks to {output}; "
        f"{result.already_done} already there; {elapsed:.1f} s"
    )
    for index, error in result.failed_chunks:
        console.print(f"[red]chunk {index} failed[/red]: {error}; run again with --resume to retry it")
    _derived_outputs(source, output, o, console)
    status = run_status(result.status_counts, len(result.failed_chunks))
    if status:
        sys.exit(status)


def _check_extra_outputs(o: dict[str, Any]) -> None:
    """Refuse existing mask/COCO/report outputs before any work (unless --overwrite or --resume)."""
    from rossam_geo.errors import OutputExistsError
    from rossam_geo.io import list_files

    if o["overwrite"] or o["resume"]:
        return
    for option, value in (("--coco", o["coco"]), ("--report", o["report"])):
        if value and Path(value).exists():
            raise OutputExistsError(f"{option} output {value!r} exists; use --overwrite to replace it")
    if o["masks_dir"] and Path(o["masks_dir"]).is_dir() and list_files(o["masks_dir"], pattern="*.png"):
        raise OutputExistsError(
            f"--masks-dir {o['masks_dir']!r} already holds PNG files; use --overwrite or another folder"
        )


def _segment(job: Any, boxes: Any, output: str, o: dict[str, Any], mode: str, console: Any) -> Any:
    from rich.progress import Progress

    from rossam_geo.video.tracks import run_tracks

    total = len({b.frame for b in boxes})
    with Progress(console=console, transient=True, disable=o["quiet"]) as progress:
        task = progress.add_task("frames", total=total)

        def advance(chunk: Any, _result: Any) -> None:
            progress.advance(task, len(chunk.frames))

        common: dict[str, Any] = dict(
            layer=o["layer_name"], mode=mode, frames_per_chunk=o["chunk_frames"], on_chunk=advance
        )
        if o["scheduler"]:
            from rossam_geo.distributed import connect, gpu_resources, run_tracks_distributed

            with connect(o["scheduler"], worker_resources=gpu_resources(o["device"])) as client:
                return run_tracks_distributed(job, boxes, output, client, **common)
        return run_tracks(job, boxes, output, **common)


def _derived_outputs(source: Any, output: str, o: dict[str, Any], console: Any) -> None:
    if not (o["masks_dir"] or o["coco"] or o["report"] or o["temporal"]):
        return
    from rossam_geo.video.outputs import (
        frame_masks,
        read_tracks,
        write_coco,
        write_jump_report,
        write_masks_dir,
    )
    from rossam_geo.video.temporal import jump_report, summarize_jumps

    features = read_tracks(output, o["layer_name"])
    if o["masks_dir"] or o["coco"]:
        masks = frame_masks(features, source.info)
        if o["masks_dir"]:
            written = write_masks_dir(masks, o["masks_dir"], overwrite=o["overwrite"] or o["resume"])
            console.print(f"wrote {len(written)} mask PNGs to {o['masks_dir']}")
        if o["coco"]:
            doc = write_coco(masks, features, o["coco"], overwrite=o["overwrite"] or o["resume"])
            console.print(f"wrote {len(doc['annotations'])} COCO annotations to {o['coco']}")
    if o["report"] or o["temporal"]:
        records = jump_report(features, max_area_ratio=o["max_area_ratio"], min_iou=o["min_iou"])
        summary = summarize_jumps(records)
        files = []
        if o["report"]:
            files = write_jump_report(records, summary, o["report"], overwrite=o["overwrite"] or o["resume"])
        console.print(
            f"jump report: {summary['flagged']} of {summary['pairs']} consecutive pairs flagged "
            f"(area ratio beyond {o['max_area_ratio']:g}x or aligned IoU below {o['min_iou']:g})"
            + (f"; {', '.join(str(Path(f)) for f in files)}" if files else "")
        )
        for track_id, entry in sorted(summary["tracks"].items(), key=lambda kv: int(kv[0])):
            if entry["flagged"]:
                console.print(f"  track {track_id}: {entry['flagged']} of {entry['pairs']} pairs flagged")
