"""``rossam-geo train``: fine-tune ROS-SAM (LoRA, last encoder block, both decoders) on instance masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import tomllib

from rossam_geo.cli.errors import user_errors
from rossam_geo.train.config import DATA_FORMATS, LOSS_SAMPLINGS, MODEL_NAMES, PRECISIONS, TrainConfig

_DEFAULTS = TrainConfig(data="", output_dir="")


def _load_config_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Read a TOML file whose keys are option names (dashes or underscores) into click's ``default_map``."""
    if not value:
        return value
    path = Path(value)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise click.BadParameter(f"config file {value!r} does not exist", ctx, param) from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"config file {value!r} is not valid TOML: {exc}", ctx, param) from None
    table = table.get("train", table)
    known = {p.name for p in ctx.command.params if p.name and p.name != "config"}
    mapped = {str(k).replace("-", "_"): v for k, v in table.items()}
    unknown = sorted(set(mapped) - known)
    if unknown:
        raise click.BadParameter(
            f"unknown key(s) {unknown} in {value!r}; use option names such as {sorted(known)[:6]}", ctx, param
        )
    base = Path(value).parent
    for key in ("data", "output_dir", "labels", "val_data", "base_weights"):
        item = mapped.get(key)
        if isinstance(item, str) and item and not Path(item).is_absolute():
            candidate = base / item
            if key != "base_weights" or candidate.exists():
                mapped[key] = str(candidate)
    ctx.default_map = {**(ctx.default_map or {}), **mapped}
    return value


def _opt(name: str, help_text: str, **kwargs: Any) -> Any:
    """An option named like the TrainConfig field, defaulting to the field's default."""
    flag = "--" + name.replace("_", "-")
    default = getattr(_DEFAULTS, name)
    if isinstance(default, bool):
        return click.option(
            f"{flag}/--no-{flag[2:]}", name, default=default, show_default=True, help=help_text
        )
    return click.option(flag, name, default=default, show_default=True, help=help_text, **kwargs)


@click.command("train")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_load_config_file,
    help="TOML file of option values (keys: option names, optionally under [train]); the command line wins.",
)
@click.option("--data", "data", required=True, help="COCO JSON, SAT-MTB folder or GeoTIFF scene.")
@click.option(
    "-o", "--output-dir", "output_dir", required=True, type=click.Path(file_okay=False), help="Run folder."
)
@_opt("data_format", "Data layout.", type=click.Choice(DATA_FORMATS))
@_opt("labels", "Label polygons (GeoPackage...) for GeoTIFF data.")
@_opt("class_column", "Class attribute of --labels.")
@_opt("split", "SAT-MTB split folder.")
@_opt("chip_size_px", "GeoTIFF (or --tile-images) chip side in pixels.", type=int)
@_opt("tile_images", "Cut COCO / SAT-MTB images into chips (after the split).")
@_opt("val_data", "Separate validation data (same format); default: a seeded split of --data.")
@_opt("val_fraction", "Share of images held out when --val-data is not given.", type=float)
@_opt("classes", "Keep only this class (repeatable).", multiple=True)
@_opt("exclude_classes", "Drop this class (repeatable; the paper drops cars).", multiple=True)
@_opt("max_objects", "At most this many objects per image and step (0: all).", type=int)
@_opt("model", "Network size.", type=click.Choice(MODEL_NAMES))
@_opt("base_weights", "Official SAM / HQ-SAM weights (registry name or file); '' for random init.")
@_opt("lora_rank", "LoRA rank on q and v.", type=int)
@_opt("lora_alpha", "LoRA alpha (scale = alpha / rank).", type=float)
@_opt("epochs", "Training epochs.", type=int)
@_opt("lr", "AdamW learning rate.", type=float)
@_opt("weight_decay", "AdamW weight decay.", type=float)
@_opt("batch_size", "Images per step and device.", type=int)
@_opt("workers", "Data-loading processes per device.", type=int)
@_opt("precision", "Fabric precision.", type=click.Choice(PRECISIONS))
@_opt("accelerator", "Fabric accelerator (auto, cpu, cuda...).")
@_opt("devices", "Devices per node ('auto' or a number; torchrun sets it).")
@_opt(
    "grad_checkpointing",
    "Activation checkpointing (auto: vit_l, vit_h).",
    type=click.Choice(["auto", "on", "off"]),
)
@_opt("seed", "Seed of split, augmentation, shuffling and loss sampling.", type=int)
@_opt("lsj_min_scale", "Smallest large-scale-jitter factor.", type=float)
@_opt("lsj_max_scale", "Largest large-scale-jitter factor.", type=float)
@_opt("rotation", "Random rotations by any angle.")
@_opt("photometric", "Random brightness, contrast, channel gain.")
@_opt("box_noise", "Prompt-box corner noise, fraction of box size.", type=float)
@_opt(
    "loss_sampling", "Loss on uncertainty-sampled points or every pixel.", type=click.Choice(LOSS_SAMPLINGS)
)
@_opt("loss_points", "Points per mask for point-sampled loss.", type=int)
@_opt("bce_pos_weight", "Foreground weight in BCE.", type=float)
@_opt(
    "iou_loss_weight", "Weight of the IoU-head loss (MSE to the mask's actual IoU; 0: untrained).", type=float
)
@_opt("resume", "Continue from OUTPUT_DIR/state/last.ckpt.")
@_opt("overwrite", "Start over in an OUTPUT_DIR that holds a run.")
@_opt("progress", "Show a progress bar.")
@user_errors
def train(**options: Any) -> None:
    """Fine-tune ROS-SAM: LoRA on q/v, the last encoder block and both mask decoders, updated alternately.

    Writes OUTPUT_DIR/last.safetensors every epoch, best.safetensors (best validation IoU), history.json,
    logs/metrics.csv and a resume state. Multi-GPU: launch with `torchrun --nproc_per_node N`.
    """
    from rossam_geo.errors import RossamError

    try:
        config = TrainConfig.from_options(**options)
        config.check_paths()
        from rossam_geo.train.loop import train as run_training

        result = run_training(config)
    except RossamError as exc:
        raise click.ClickException(str(exc)) from exc
    if result.history:
        last = result.history[-1]
        click.echo(
            f"done: {len(result.history)} epochs, last val IoU {last.val_iou:.4f}, "
            f"best {result.best_val_iou:.4f}; adapter {result.last_adapter}"
        )


if __name__ == "__main__":  # torchrun -m rossam_geo.cli.train ...
    train()
