"""Click options shared by the commands that run an engine over a scene."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from rossam_geo.engines import engine_names, weight_free_engines

F = Callable[..., Any]


def parse_bands(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    """Parse ``--bands 1,2,3`` into 1-based band indexes."""
    if value is None:
        return None
    try:
        bands = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a comma-separated list of band numbers, e.g. 1,2,3"
        ) from None
    if len(bands) not in (1, 3) or min(bands) < 1:
        raise click.BadParameter(f"give 1 band (gray) or 3 bands (red,green,blue), 1-based; got {value!r}")
    return bands


def engine_options(func: F) -> F:
    """--engine, --weights, --device, --batch-size."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(engine_names()),
            default="rossam",
            show_default=True,
            help="Segmentation engine; box and grabcut need no weights.",
        ),
        click.option("--weights", default=None, help="Weights file or registry name (SAM-family engines)."),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda", "mps"]),
            default="auto",
            show_default=True,
            help="Where the model runs.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=None,
            help="Boxes per model call (default: the engine's own).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def speed_options(func: F) -> F:
    """--precision, --attention, --compile, --tta: inference options of the SAM-family engines."""
    options = [
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16"]),
            default="auto",
            show_default=True,
            help="SAM-family engines: bf16 autocast or fp32 (auto: bf16 on CUDA, fp32 elsewhere).",
        ),
        click.option(
            "--attention",
            type=click.Choice(["auto", "sdpa", "reference"]),
            default="auto",
            show_default=True,
            help="SAM-family engines: encoder attention kernel (auto: sdpa on CUDA, reference elsewhere).",
        ),
        click.option(
            "--compile",
            "compile_encoder",
            is_flag=True,
            help="SAM-family engines: torch.compile the encoder.",
        ),
        click.option(
            "--tta",
            type=click.Choice(["auto", "none", "flips", "d8"]),
            default="auto",
            show_default=True,
            help="SAM-family engines: test-time augmentation, logits of flipped (4 passes) or flipped and "
            "transposed (d8, 8 passes) inputs averaged (auto: d8 for the compact model, none otherwise).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def speed_engine_options(
    engine: str, precision: str, attention: str, compile_encoder: bool, tta: str = "auto"
) -> dict[str, Any]:
    """Engine keyword options for the non-default inference settings; refused for the weight-free engines."""
    chosen: dict[str, Any] = {}
    if tta != "auto":
        chosen["tta"] = tta
    if precision != "auto":
        chosen["precision"] = precision
    if attention != "auto":
        chosen["attention"] = attention
    if compile_encoder:
        chosen["compile"] = True
    if chosen and engine in weight_free_engines():
        flags = ", ".join("--compile" if k == "compile" else f"--{k}" for k in chosen)
        raise click.UsageError(f"{flags}: only for the rossam, sam and hq-sam engines, not {engine!r}")
    return chosen


def crop_options(func: F) -> F:
    """--crop-size, --upsample, --no-crop, --bands."""
    options = [
        click.option(
            "--crop-size",
            type=click.IntRange(min=8),
            default=512,
            show_default=True,
            help="Side of the window around each box, in raster pixels.",
        ),
        click.option(
            "--upsample",
            type=click.FloatRange(min=0, min_open=True),
            default=2.0,
            show_default=True,
            help="Raster-to-model sampling rate (bicubic), never exceeded.",
        ),
        click.option(
            "--no-crop",
            is_flag=True,
            help="Resize the whole raster to the model input instead of cropping (reads the whole raster).",
        ),
        click.option(
            "--bands",
            callback=parse_bands,
            default=None,
            help="1-based bands used as RGB (e.g. 4,3,2) or one band as gray (default: 1,2,3).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def verbosity_options(func: F) -> F:
    """-v/--verbose (repeatable) and -q/--quiet."""
    func = click.option("-q", "--quiet", is_flag=True, help="Print only errors.")(func)
    func = click.option("-v", "--verbose", count=True, help="More detail (per-box problems).")(func)
    return func
