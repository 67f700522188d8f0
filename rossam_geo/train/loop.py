"""The ROS-SAM training loop on Lightning Fabric: alternating decoder updates, AMP, DDP, resume, validation.

Alternation: one AdamW optimizer holds every trainable parameter (LoRA, the last encoder block, SAM's mask
decoder, the HQ decoder). Even steps run only SAM's decoder and take the loss on its mask; odd steps run only
the HQ decoder and take the loss on the HQ mask. Gradients are cleared with ``set_to_none=True`` and the idle
decoder's gradients are set to ``None`` after the backward pass, so AdamW skips the idle decoder entirely (no
momentum or weight-decay drift); LoRA and the last block receive a gradient, and move, on every step.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.train.checkpoints import (
    atomic_copy,
    base_state_sha256,
    load_trainable_state,
    save_adapter_file,
    trainable_state,
    write_json_atomic,
)
from rossam_geo.train.config import TrainConfig
from rossam_geo.train.records import EpochRecord as EpochRecord  # re-exported
from rossam_geo.train.records import TrainResult as TrainResult  # re-exported
from rossam_geo.train.records import progress_bar
from rossam_geo.train.steps import Decoder as Decoder  # re-exported
from rossam_geo.train.steps import EpochShardSampler as EpochShardSampler  # re-exported
from rossam_geo.train.steps import decoder_for_step as decoder_for_step  # re-exported
from rossam_geo.train.steps import training_step as training_step  # re-exported
from rossam_geo.train.steps import validate as validate  # re-exported

if TYPE_CHECKING:
    from lightning.fabric import Fabric

    from rossam_geo.model.rossam import RosSam


LAST_ADAPTER = "last.safetensors"
BEST_ADAPTER = "best.safetensors"
STATE_FILE = Path("state") / "last.ckpt"
HISTORY_FILE = "history.json"


def _fabric_for(config: TrainConfig, loggers: list[Any]) -> Fabric:
    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    world = int(os.environ.get("WORLD_SIZE", "1"))
    devices: int | str = config.devices
    num_nodes = 1
    if world > 1:  # started by torchrun: take the launcher's layout
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        devices, num_nodes = local, world // local
    elif devices != "auto":
        try:
            devices = int(devices)
        except ValueError:
            raise InputError(f"devices must be 'auto' or a number of devices, got {devices!r}") from None
    distributed = world > 1 or (isinstance(devices, int) and devices > 1)
    # Each step leaves one decoder unused, so DDP must look for unused parameters.
    strategy: Any = DDPStrategy(find_unused_parameters=True) if distributed else "auto"
    return Fabric(
        accelerator=config.accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=config.precision,  # type: ignore[arg-type]
        loggers=loggers,
    )


def _check_output_dir(config: TrainConfig) -> None:
    out = config.output_path
    existing = [p for p in (out / LAST_ADAPTER, out / STATE_FILE) if p.exists()]
    if existing and not (config.resume or config.overwrite):
        raise OutputExistsError(
            f"{str(out)!r} already holds a training run ({existing[0].name}); pass --resume to continue it, "
            "--overwrite to start over, or choose another --output-dir"
        )


def build_model(config: TrainConfig) -> tuple[RosSam, str, str]:
    """Build the network for ``config`` and load its base weights.

    Returns:
        (model with only the trainable groups requiring grad, base weights name, SHA-256 of the base weights
        file, or of the frozen tensors for a random initialisation).
    """
    from rossam_geo.model.build import build_rossam

    model = build_rossam(
        config.model,
        lora_rank=config.lora_rank,
        lora_alpha=config.lora_alpha,
        gradient_checkpointing=config.use_grad_checkpointing,
    )
    if config.base_weights:
        from rossam_geo.io.hashing import sha256_file
        from rossam_geo.model.checkpoint import load_official
        from rossam_geo.weights import resolve_weights

        path = resolve_weights(config.base_weights)
        load_official(path, model)
        base_name, base_sha = path.name, sha256_file(path)
    else:
        base_name, base_sha = f"random-init:{config.model}:seed{config.seed}", base_state_sha256(model)
    model.freeze_for_training()
    model.train()
    return model, base_name, base_sha


def _reduce_validation(fabric: Fabric, sums: dict[str, float]) -> dict[str, float]:
    import torch

    keys = sorted(sums)
    total = fabric.all_reduce(torch.tensor([sums[k] for k in keys], dtype=torch.float64), reduce_op="sum")
    values = dict(zip(keys, torch.as_tensor(total).cpu().tolist(), strict=True))
    n = values["n"]
    means = {k: (values[k] / n if n > 0 else math.nan) for k in keys if k != "n"}
    means["n"] = n
    return means


def train(config: TrainConfig, on_epoch_end: Callable[[EpochRecord], None] | None = None) -> TrainResult:
    """Train ROS-SAM as ``config`` says; the main process writes adapters, logs and resume state.

    Outputs in ``config.output_dir``: ``last.safetensors`` (trained parts after every epoch),
    ``best.safetensors`` (best validation HQ IoU), ``state/last.ckpt`` (Fabric checkpoint to resume:
    trainable weights, optimizer, epoch, step, RNG), ``history.json`` and ``logs/metrics.csv``.

    Args:
        config: the run's configuration.
        on_epoch_end: called on every process with each epoch's record.

    Raises:
        OutputExistsError: the output folder holds a run and neither ``resume`` nor ``overwrite`` is set.
        InputError: unusable data or options.
    """
    import torch
    from lightning.fabric.loggers import CSVLogger
    from torch.utils.data import DataLoader

    from rossam_geo.io.atomic import check_writable_folder
    from rossam_geo.train.data import (
        AugmentedDataset,
        ClassFilter,
        GeoTiffChips,
        ImageChips,
        collate_samples,
        open_dataset,
        split_indices,
    )
    from rossam_geo.train.losses import MaskLoss
    from rossam_geo.train.transforms import EvalTransform, TrainTransform

    _check_output_dir(config)
    out_dir = config.output_path
    check_writable_folder(out_dir, option="--output-dir")
    # The data are opened (and checked) before anything is written.
    class_filter = ClassFilter(config.classes, config.exclude_classes)
    data_options: dict[str, Any] = {
        "labels": config.labels,
        "split": config.split,
        "chip_size_px": config.chip_size_px,
        "class_column": config.class_column,
        "class_filter": class_filter,
    }
    source = open_dataset(config.data, config.data_format, **data_options)
    if config.val_data:
        val_source = open_dataset(config.val_data, config.data_format, **data_options)
        train_idx, val_idx = list(range(len(source))), list(range(len(val_source)))
    else:
        val_source = source
        train_idx, val_idx = split_indices(len(source), config.val_fraction, config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / STATE_FILE).parent.mkdir(parents=True, exist_ok=True)
    resuming = config.resume and (out_dir / STATE_FILE).exists()
    # A resumed run logs into its own folder so the earlier metrics.csv is kept.
    log_version = time.strftime("resumed-%Y%m%d-%H%M%S") if resuming else ""
    fabric = _fabric_for(config, [CSVLogger(root_dir=out_dir, name="logs", version=log_version)])
    fabric.launch()
    fabric.seed_everything(config.seed, verbose=False)

    if config.tile_images and config.data_format != "geotiff" and not isinstance(source, GeoTiffChips):
        source_train = ImageChips(source, config.chip_size_px, train_idx)
        val_source = ImageChips(val_source, config.chip_size_px, val_idx)
        source, train_idx, val_idx = (
            source_train,
            list(range(len(source_train))),
            list(range(len(val_source))),
        )

    model, base_name, base_sha = build_model(config)
    size = model.image_size_px
    groups = {name: list(g.values()) for name, g in model.named_parameter_groups().items()}
    trainable = [p for g in groups.values() for p in g]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    wrapped, optimizer = fabric.setup(model, optimizer)

    train_ds = AugmentedDataset(
        source,
        train_idx,
        TrainTransform(
            size,
            (config.lsj_min_scale, config.lsj_max_scale),
            rotation=config.rotation,
            photometric=config.photometric,
            box_noise=config.box_noise,
            max_objects=config.max_objects,
        ),
        config.seed,
    )
    val_ds = AugmentedDataset(val_source, val_idx, EvalTransform(size), config.seed)
    train_sampler = EpochShardSampler(len(train_ds), config.seed, fabric.global_rank, fabric.world_size, True)
    val_sampler = EpochShardSampler(len(val_ds), config.seed, fabric.global_rank, fabric.world_size, False)
    loader_options: dict[str, Any] = {"num_workers": config.workers, "collate_fn": collate_samples}
    train_loader: Any = fabric.setup_dataloaders(
        DataLoader(train_ds, batch_size=config.batch_size, sampler=train_sampler, **loader_options),  # type: ignore[arg-type]
        use_distributed_sampler=False,
    )
    val_loader = fabric.setup_dataloaders(
        DataLoader(val_ds, batch_size=config.batch_size, sampler=val_sampler, **loader_options),  # type: ignore[arg-type]
        use_distributed_sampler=False,
    )
    loss_fn = MaskLoss(
        sampling=config.loss_sampling, num_points=config.loss_points, bce_pos_weight=config.bce_pos_weight
    )

    state: dict[str, Any] = {
        "optimizer": optimizer,
        "trainable": {},
        "epoch": 0,
        "step": 0,
        "best_val_iou": -1.0,
        "history": [],
        "rng_torch": torch.get_rng_state(),
        "model_name": config.model,
    }
    state_path = out_dir / STATE_FILE
    resumed = resuming
    if resumed:
        fabric.load(state_path, state, weights_only=True)
        if state["model_name"] != config.model:
            raise InputError(
                f"the run in {str(out_dir)!r} trained model {state['model_name']!r}, not {config.model!r}; "
                "resume with the same --model or choose another --output-dir"
            )
        load_trainable_state(model, state["trainable"])
        torch.set_rng_state(state["rng_torch"])
    history = [EpochRecord(**r) for r in state["history"]]
    step, best = int(state["step"]), float(state["best_val_iou"])
    has_val = len(val_ds) > 0
    initial_val_iou = math.nan
    if has_val and not resumed:
        initial_val_iou = _reduce_validation(fabric, validate(model, val_loader, size, fabric.autocast))[
            "iou_hq"
        ]
        fabric.print(f"validation IoU before training: {initial_val_iou:.4f}")
    progress = progress_bar(fabric.is_global_zero and config.progress)

    for epoch in range(int(state["epoch"]), config.epochs):
        started = time.perf_counter()
        train_ds.set_epoch(epoch)
        train_sampler.use_epoch(epoch)
        torch.manual_seed(config.seed * 100_003 + epoch * 1009 + fabric.global_rank)
        losses: dict[str, list[float]] = {"sam": [], "hq": []}
        task = progress.start(f"epoch {epoch + 1}/{config.epochs}", len(train_loader)) if progress else None
        for batch in train_loader:
            decoder, values = training_step(
                wrapped,
                optimizer,
                batch,
                step,
                loss_fn,
                groups,
                fabric.backward,
                iou_loss_weight=config.iou_loss_weight,
            )
            losses[decoder].append(values["loss"])
            fabric.log_dict(
                {
                    "train/loss": values["loss"],
                    "train/bce": values["bce"],
                    "train/dice": values["dice"],
                    "train/iou_mse": values["iou_mse"],
                    "train/decoder_hq": float(decoder == "hq"),
                    "epoch": float(epoch + 1),
                },
                step=step,
            )
            step += 1
            if progress and task is not None:
                progress.advance(task, f"{decoder} loss {values['loss']:.3f}")
        if progress and task is not None:
            progress.stop(task)
        val = (
            _reduce_validation(fabric, validate(model, val_loader, size, fabric.autocast)) if has_val else {}
        )
        record = EpochRecord(
            epoch=epoch + 1,
            steps=step,
            train_loss_sam=_mean_across(fabric, losses["sam"]),
            train_loss_hq=_mean_across(fabric, losses["hq"]),
            val_iou=val.get("iou_hq", math.nan),
            val_biou=val.get("biou_hq", math.nan),
            val_iou_sam=val.get("iou_sam", math.nan),
            val_biou_sam=val.get("biou_sam", math.nan),
            val_objects=int(val.get("n", 0)),
            seconds=time.perf_counter() - started,
        )
        history.append(record)
        fabric.log_dict({f"epoch/{k}": float(v) for k, v in asdict(record).items()}, step=step)
        improved = has_val and record.val_iou > best
        if improved:
            best = record.val_iou
        if fabric.is_global_zero:
            save_adapter_file(model, out_dir / LAST_ADAPTER, base_name, base_sha)
            if improved:
                atomic_copy(out_dir / LAST_ADAPTER, out_dir / BEST_ADAPTER)
            write_json_atomic(out_dir / HISTORY_FILE, [asdict(r) for r in history])
        fabric.print(
            f"epoch {record.epoch}: loss sam {record.train_loss_sam:.4f} hq {record.train_loss_hq:.4f}, "
            f"val IoU {record.val_iou:.4f} BIoU {record.val_biou:.4f} (sam decoder {record.val_iou_sam:.4f})"
        )
        state.update(
            {
                "trainable": trainable_state(model),
                "epoch": epoch + 1,
                "step": step,
                "best_val_iou": best,
                "history": [asdict(r) for r in history],
                "rng_torch": torch.get_rng_state(),
            }
        )
        tmp_state = state_path.with_name(f".{state_path.name}.tmp")
        fabric.save(tmp_state, state)
        if fabric.is_global_zero:
            os.replace(tmp_state, state_path)
        fabric.barrier()
        if on_epoch_end is not None:
            on_epoch_end(record)
    for logger in fabric.loggers:
        logger.finalize("success")
    return TrainResult(
        history=history,
        output_dir=out_dir,
        last_adapter=out_dir / LAST_ADAPTER,
        best_adapter=(out_dir / BEST_ADAPTER) if (out_dir / BEST_ADAPTER).exists() else None,
        best_val_iou=best if has_val else math.nan,
        initial_val_iou=initial_val_iou,
    )


def _mean_across(fabric: Fabric, values: list[float]) -> float:
    import torch

    totals = fabric.all_reduce(torch.tensor([sum(values), len(values)], dtype=torch.float64), reduce_op="sum")
    total, count = torch.as_tensor(totals).cpu().tolist()
    return total / count if count > 0 else math.nan
