"""Click options shared by the commands that run an engine over a scene."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from rossam_geo.engines import engine_names, weight_free_engines, weighted_engines

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


def model_options(func: F) -> F:
    """--engine, --weights, --device."""
    return _engine_options(func, batch_size=False)


def engine_options(func: F) -> F:
    """--engine, --weights, --device, --batch-size."""
    return _engine_options(func, batch_size=True)


def _engine_options(func: F, *, batch_size: bool) -> F:
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
    ]
    if batch_size:
        options.append(
            click.option(
                "--batch-size",
                type=click.IntRange(min=1),
                default=None,
                help="Boxes per model call (default: the engine's own).",
            )
        )
    for option in reversed(options):
        func = option(func)
    return func


def tta_option(applies_to: str) -> Callable[[F], F]:
    """--tta: test-time augmentation of the SAM-family engines; ``applies_to`` starts its help text."""
    return click.option(
        "--tta",
        type=click.Choice(["auto", "none", "flips", "d8"]),
        default="auto",
        show_default=True,
        help=f"{applies_to}: test-time augmentation, logits of flipped (4 passes) or flipped and transposed "
        "(d8, 8 passes) inputs averaged (auto: d8 for the compact model, none otherwise).",
    )


def speed_options(func: F) -> F:
    """--precision, --attention, --compile, --tta: inference options of the SAM-family engines."""
    options: list[Callable[[F], F]] = [
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16", "bf16-mixed", "bf16-true"]),
            default="auto",
            show_default=True,
            help="SAM-family engines: fp32, bf16 autocast (bf16 = bf16-mixed) or a bf16 encoder (bf16-true) "
            "(auto: bf16-mixed on CUDA, fp32 elsewhere).",
        ),
        click.option(
            "--attention",
            type=click.Choice(["auto", "folded", "sdpa", "reference"]),
            default="auto",
            show_default=True,
            help="SAM-family engines: encoder attention kernel (auto: folded on CUDA, reference elsewhere).",
        ),
        click.option(
            "--compile/--no-compile",
            "compile_encoder",
            default=None,
            help="SAM-family engines: torch.compile the encoder blocks for full batches (default: on for "
            "CUDA batches; the first full batch of a run compiles, smaller passes run uncompiled).",
        ),
        tta_option("SAM-family engines"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def speed_engine_options(
    engine: str, precision: str, attention: str, compile_encoder: bool | None, tta: str = "auto"
) -> dict[str, Any]:
    """Engine keyword options for the non-default inference settings; refused for the weight-free engines."""
    chosen: dict[str, Any] = {}
    if tta != "auto":
        chosen["tta"] = tta
    if precision != "auto":
        chosen["precision"] = precision
    if attention != "auto":
        chosen["attention"] = attention
    if compile_encoder is not None:
        chosen["compile"] = compile_encoder
    if chosen and engine in weight_free_engines():
        flags = ", ".join(
            ("--compile" if compile_encoder else "--no-compile") if k == "compile" else f"--{k}"
            for k in chosen
        )
        weighted = weighted_engines()
        names = f"{', '.join(weighted[:-1])} and {weighted[-1]}"
        raise click.UsageError(f"{flags}: only for the {names} engines, not {engine!r}")
    return chosen


def verbosity_options(func: F) -> F:
    """-v/--verbose (repeatable) and -q/--quiet."""
    func = click.option("-q", "--quiet", is_flag=True, help="Print only errors.")(func)
    func = click.option("-v", "--verbose", count=True, help="More detail (per-box problems).")(func)
    return func


def _click_option(item: dataclasses.Field[Any]) -> Callable[[F], F]:
    """The click option of one field of :class:`~rossam_geo.segmentation.SegmentOptions` or
    :class:`~rossam_geo.segmentation.PromptOptions`: its flag and help come from the field's metadata; the
    values are checked by the options type, not here."""
    flag, help_text = item.metadata["flag"], item.metadata["help"]
    annotation = str(item.type)
    kwargs: dict[str, Any] = {"default": item.default, "help": help_text}
    if item.name == "bands":
        kwargs.update(callback=parse_bands, default=None)
    elif "/" in flag:
        kwargs.update(show_default=True)
    elif item.metadata.get("is_flag"):
        kwargs.update(is_flag=True)
    elif annotation.startswith("int"):
        kwargs.update(type=click.INT, show_default=item.default is not None)
    elif annotation.startswith("float"):
        kwargs.update(type=click.FLOAT, show_default=item.default is not None)
    return click.option(flag, item.name, **kwargs)


def options_of(cls: type) -> Callable[[F], F]:
    """A decorator adding one click option per field of an options dataclass (in field order)."""

    def decorate(func: F) -> F:
        for item in reversed(dataclasses.fields(cls)):
            func = _click_option(item)(func)
        return func

    return decorate


def segment_options(func: F) -> F:
    """One option per field of :class:`~rossam_geo.segmentation.SegmentOptions`."""
    from rossam_geo.segmentation.options import SegmentOptions

    return options_of(SegmentOptions)(func)


def prompt_options(func: F) -> F:
    """One option per field of :class:`~rossam_geo.segmentation.PromptOptions`."""
    from rossam_geo.segmentation.options import PromptOptions

    return options_of(PromptOptions)(func)
