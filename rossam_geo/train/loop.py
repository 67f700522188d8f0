"""The ROS-SAM training loop on Lightning Fabric: alternating decoder updates, AMP, DDP, resume, validation.

Alternation: one AdamW optimizer holds every trainable parameter (LoRA, the last encoder block, SAM's mask
decoder, the HQ decoder). Even steps run only SAM's decoder and take the loss on its mask; odd steps run only
the HQ decoder and take the loss on the HQ mask. Gradients are cleared with ``set_to_none=True`` and the idle
decoder's gradients are set to ``None`` after the backward pass, so AdamW skips the idle decoder entirely (no
momentum or weight-decay drift); LoRA and the last block receive a gradient, and move, on every step.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rossam_geo.atomic import atomic_path, write_text_atomic
from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.train.config import TrainConfig

if TYPE_CHECKING:
    import torch
    from lightning.fabric import Fabric

    from rossam_geo.model.rossam import RosSam
    from rossam_geo.train.losses import MaskLoss

Decoder = Literal["sam", "hq"]

LAST_ADAPTER = "last.safetensors"
BEST_ADAPTER = "best.safetensors"
STATE_FILE = Path("state") / "last.ckpt"
HISTORY_FILE = "history.json"


def decoder_for_step(step: int) -> Decoder:
    """The decoder trained at global step ``step``: ``sam`` on even steps, ``hq`` on odd steps."""
    return "sam" if step % 2 == 0 else "hq"


@dataclass
class EpochRecord:
    """Numbers of one epoch (validation values are NaN without a validation set).

    Attributes:
        epoch: 1-based epoch number.
        steps: global step count at the end of the epoch.
        train_loss_sam: mean loss of the SAM-decoder steps.
        train_loss_hq: mean loss of the HQ-decoder steps.
        val_iou: mean per-object mask IoU of the HQ output on the validation images.
        val_biou: mean per-object Boundary IoU of the HQ output.
        val_iou_sam: mean per-object mask IoU of SAM's decoder.
        val_biou_sam: mean per-object Boundary IoU of SAM's decoder.
        val_objects: number of validation objects scored.
        seconds: wall time of the epoch (training and validation).
    """

    epoch: int
    steps: int
    train_loss_sam: float
    train_loss_hq: float
    val_iou: float
    val_biou: float
    val_iou_sam: float
    val_biou_sam: float
    val_objects: int
    seconds: float


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        history: one record per epoch, from the first epoch of the run (earlier ones included after a resume).
        output_dir: the run folder.
        last_adapter: path of the last epoch's adapter file.
        best_adapter: path of the best-validation adapter file (None without validation).
        best_val_iou: best validation IoU (NaN without validation).
        initial_val_iou: validation HQ IoU before the first step (NaN when resumed or without validation).
    """

    history: list[EpochRecord]
    output_dir: Path
    last_adapter: Path
    best_adapter: Path | None
    best_val_iou: float
    initial_val_iou: float = math.nan


class EpochShardSampler:
    """Per-epoch seeded order of a dataset, sharded across ranks.

    Training (``shuffle``): a permutation seeded by ``(seed, epoch)``, padded by repetition to a multiple of
    the world size so every rank runs the same number of steps. Validation: the natural order, unpadded.
    """

    def __init__(self, length: int, seed: int, rank: int, world_size: int, shuffle: bool) -> None:
        self.length = length
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.epoch = 0

    def use_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``.

        (Deliberately not named ``set_epoch``: Fabric's data loader calls ``set_epoch`` with its own count of
        iterations, which restarts at zero after a resume.)
        """
        self.epoch = epoch

    def _indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.length, self.world_size))
        order = np.random.default_rng([self.seed, self.epoch, 0xD474]).permutation(self.length).tolist()
        total = math.ceil(self.length / self.world_size) * self.world_size
        order += order[: total - len(order)]
        return order[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


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
        from rossam_geo.hashing import sha256_file
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


def _trainable_state(model: RosSam) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone()
        for group in model.named_parameter_groups().values()
        for name, p in group.items()
    }


def _load_trainable_state(model: RosSam, state: dict[str, torch.Tensor]) -> None:
    import torch

    params = {name: p for group in model.named_parameter_groups().values() for name, p in group.items()}
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    if missing or unexpected:
        raise InputError(
            f"resume state does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "resume with the same model and LoRA options, or pass --overwrite to start over"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name])


def _atomic_copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _save_adapter(model: RosSam, path: Path, base_name: str, base_sha: str) -> None:
    from rossam_geo.model.checkpoint import save_adapter

    save_adapter(model, path, base_name, base_sha, overwrite=True)


def base_state_sha256(model: RosSam) -> str:
    """SHA-256 of the frozen (non-trainable) tensors of ``model``, serialised with safetensors in key order.

    Identifies a randomly initialised base network (``tiny`` test runs) the way a file hash identifies an
    official checkpoint.
    """
    import hashlib

    from safetensors.torch import save

    trainable = {id(p) for p in model.trainable_parameters()}
    frozen = {
        name: p.detach().contiguous().cpu() for name, p in model.named_parameters() if id(p) not in trainable
    }
    return hashlib.sha256(save(dict(sorted(frozen.items())))).hexdigest()


def _write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=True))


def training_step(
    model: Any,
    optimizer: Any,
    batch: dict[str, Any],
    step: int,
    loss_fn: MaskLoss,
    groups: Mapping[str, Sequence[torch.nn.Parameter]],
    backward: Callable[[torch.Tensor], None],
    iou_loss_weight: float = 0.0,
) -> tuple[Decoder, dict[str, float]]:
    """One alternating update.

    The loss is the mask loss plus ``iou_loss_weight`` times :func:`~rossam_geo.train.losses.iou_head_loss`
    of the trained decoder's IoU prediction (the HQ decoder's on its SAM token on HQ steps) against the IoU
    of that decoder's mask, upsampled bilinearly to the ground-truth resolution and thresholded at 0 as at
    inference.

    Args:
        model: the (possibly Fabric/DDP-wrapped) network; called as ``model(images, boxes, decoders=...)``.
        optimizer: one optimizer over all trainable parameters.
        batch: a :func:`~rossam_geo.train.data.collate_samples` batch on the model's device.
        step: global step; selects the decoder (:func:`decoder_for_step`).
        loss_fn: mask loss.
        groups: parameter groups by name (``sam_decoder`` and ``hq_decoder`` at least).
        backward: ``loss -> None`` (``fabric.backward``, or ``Tensor.backward``).
        iou_loss_weight: weight of the IoU-head loss (0: the IoU head is not trained, as in the paper).

    Returns:
        (decoder trained, ``{"loss", "bce", "dice", "iou_mse", "objects"}`` as floats; ``iou_mse`` is NaN
        when ``iou_loss_weight`` is 0).
    """
    import torch

    from rossam_geo.train.losses import upsampled_iou_head_loss

    decoder = decoder_for_step(step)
    images = batch["images"].permute(0, 3, 1, 2)
    out = model(images, batch["prompt_boxes"], decoders=decoder)
    logits = out[f"{decoder}_mask_logits"][:, 0]
    targets = (
        torch.cat([m.to(logits.device) for m in batch["masks"]]) if batch["masks"] else logits.new_zeros(0)
    )
    losses = loss_fn(logits, targets)
    loss = losses["loss"]
    iou_mse = math.nan
    if iou_loss_weight > 0:
        iou_loss = upsampled_iou_head_loss(out[f"{decoder}_iou_pred"], logits, targets)
        loss = loss + iou_loss_weight * iou_loss
        iou_mse = float(iou_loss.detach())
    optimizer.zero_grad(set_to_none=True)
    backward(loss)
    idle = groups["hq_decoder" if decoder == "sam" else "sam_decoder"]
    for p in idle:
        p.grad = None
    optimizer.step()
    return decoder, {
        "loss": float(loss.detach()),
        "bce": float(losses["bce"]),
        "dice": float(losses["dice"]),
        "iou_mse": iou_mse,
        "objects": float(targets.shape[0]),
    }


def validate(
    model: Any, loader: Any, image_size_px: int, autocast: Callable[[], Any] = contextlib.nullcontext
) -> dict[str, float]:
    """Per-object mask IoU and Boundary IoU of both decoders on validation batches (this process's share).

    Logits are upsampled bilinearly to the model input size and thresholded at 0; Boundary IoU uses a band of
    ``max(1, round(0.02 * diagonal))`` pixels of the model input.

    Args:
        model: the bare network (not DDP-wrapped: ranks may hold different numbers of validation batches).
        loader: validation batches.
        image_size_px: model input size.
        autocast: context factory for mixed precision (``fabric.autocast``).

    Returns:
        Sums (not means): ``iou_hq``, ``biou_hq``, ``iou_sam``, ``biou_sam`` and the object count ``n``.
    """
    import torch
    import torch.nn.functional as F

    from rossam_geo.evaluate.metrics import boundary_iou, dilation_px, mask_iou

    dilation = dilation_px(image_size_px, image_size_px)
    sums = {"iou_hq": 0.0, "biou_hq": 0.0, "iou_sam": 0.0, "biou_sam": 0.0, "n": 0.0}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in loader:
            with autocast():
                out = model(batch["images"].permute(0, 3, 1, 2), batch["prompt_boxes"], decoders="both")
            gt = (
                torch.cat(list(batch["masks"])).cpu().numpy() if batch["masks"] else np.zeros((0, 1, 1), bool)
            )
            for key in ("hq", "sam"):
                logits = out[f"{key}_mask_logits"].float()
                if logits.shape[0] == 0:
                    continue
                up = F.interpolate(
                    logits, (image_size_px, image_size_px), mode="bilinear", align_corners=False
                )
                pred = (up[:, 0] > 0).cpu().numpy()
                for g, p in zip(gt, pred, strict=True):
                    sums[f"iou_{key}"] += mask_iou(g, p)
                    sums[f"biou_{key}"] += boundary_iou(g, p, dilation)
            sums["n"] += float(gt.shape[0])
    model.train(was_training)
    return sums


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
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / STATE_FILE).parent.mkdir(parents=True, exist_ok=True)
    resuming = config.resume and (out_dir / STATE_FILE).exists()
    # A resumed run logs into its own folder so the earlier metrics.csv is kept.
    log_version = time.strftime("resumed-%Y%m%d-%H%M%S") if resuming else ""
    fabric = _fabric_for(config, [CSVLogger(root_dir=out_dir, name="logs", version=log_version)])
    fabric.launch()
    fabric.seed_everything(config.seed, verbose=False)

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
        _load_trainable_state(model, state["trainable"])
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
    progress = _progress(fabric.is_global_zero and config.progress)

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
            _save_adapter(model, out_dir / LAST_ADAPTER, base_name, base_sha)
            if improved:
                _atomic_copy(out_dir / LAST_ADAPTER, out_dir / BEST_ADAPTER)
            _write_json_atomic(out_dir / HISTORY_FILE, [asdict(r) for r in history])
        fabric.print(
            f"epoch {record.epoch}: loss sam {record.train_loss_sam:.4f} hq {record.train_loss_hq:.4f}, "
            f"val IoU {record.val_iou:.4f} BIoU {record.val_biou:.4f} (sam decoder {record.val_iou_sam:.4f})"
        )
        state.update(
            {
                "trainable": _trainable_state(model),
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


class _Progress:
    """A rich progress bar, one task per epoch."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
        )

    def start(self, description: str, total: int) -> Any:
        self._bar.start()
        return self._bar.add_task(description, total=total, status="")

    def advance(self, task: Any, status: str) -> None:
        self._bar.update(task, advance=1, status=status)

    def stop(self, task: Any) -> None:
        self._bar.stop()


def _progress(enabled: bool) -> _Progress | None:
    return _Progress() if enabled else None
