"""Training recipe of the bundled compact model: inference-like crops and a time-budgeted loop.

Samples are cut the way ``segment`` cuts them: a square window centred on one object's box, planned by
:func:`rossam_geo.pipeline.plan.plan_crop` and resized bicubically to the model input by
:func:`rossam_geo.pipeline.resample.window_to_model_input`, so training sees exactly the inference geometry.
The loop reuses the training pipeline's alternating decoder step, mask loss, IoU-head loss and photometric
jitter, and trains every parameter (a from-scratch model has no pretrained base to keep frozen), or with
``iou_head_only`` only the IoU-prediction heads, which leaves every mask unchanged.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from rossam_geo.errors import InputError
from rossam_geo.train.transforms import (
    Sample,
    finish_sample,
    masks_to_boxes_xyxy,
    photometric_jitter,
    select_objects,
    with_tight_boxes,
)

if TYPE_CHECKING:
    from torch import nn

    from rossam_geo.model.rossam import RosSam

#: Parameter-name prefixes of the IoU-prediction MLPs: SAM's decoder (score of the ``sam`` and ``sam+hq``
#: modes) and the HQ decoder (on its SAM token: score of the ``hq`` mode).
IOU_HEAD_PREFIXES: tuple[str, ...] = ("mask_decoder.iou_prediction_head.", "hq_decoder.iou_prediction_head.")


class BoxCentredCrop:
    """Training transform: exact 90-degree rotation / flip, then the inference crop around a random object.

    Args:
        input_size_px: model input side.
        upsample_range: (min, max) sampling rate, drawn log-uniformly per sample (inference uses 2).
        max_objects: the centred object plus at most ``max_objects - 1`` others inside the window.
        box_noise: prompt-box corner noise as a fraction of box size.
        min_area_px: objects with fewer mask pixels left in the model input are dropped.
        photometric: apply the pipeline's photometric jitter.
        background_boxes: exact prompt boxes added per crop over background, with an empty target mask:
            sized like a random object of the crop, inside the resized window, covering no labelled object's
            box (:func:`rossam_geo.evaluate.background.sample_background_boxes`). They teach the IoU head
            that a box without an object has IoU 0.
    """

    def __init__(
        self,
        input_size_px: int,
        upsample_range: tuple[float, float] = (1.4, 2.8),
        max_objects: int = 6,
        box_noise: float = 0.03,
        min_area_px: int = 4,
        photometric: bool = True,
        background_boxes: int = 0,
    ) -> None:
        if not 0 < upsample_range[0] <= upsample_range[1]:
            raise InputError(f"need 0 < min <= max in upsample_range, got {upsample_range}")
        if background_boxes < 0:
            raise InputError(f"background_boxes must be >= 0, got {background_boxes}")
        self.input_size_px = input_size_px
        self.upsample_range = upsample_range
        self.max_objects = max_objects
        self.box_noise = box_noise
        self.min_area_px = min_area_px
        self.photometric = photometric
        self.background_boxes = background_boxes

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        from rossam_geo.pipeline.plan import plan_crop
        from rossam_geo.pipeline.resample import window_to_model_input

        image, masks = sample["image"], sample["masks"]
        k = int(rng.integers(4))
        image, masks = np.rot90(image, k), np.rot90(masks, k, axes=(1, 2))
        if rng.random() < 0.5:
            image, masks = image[:, ::-1], masks[:, :, ::-1]
        sample = with_tight_boxes({**sample, "image": np.ascontiguousarray(image), "masks": masks})
        height, width = sample["image"].shape[:2]
        target = int(rng.integers(len(sample["classes"])))
        upsample = float(np.exp(rng.uniform(*np.log(self.upsample_range))))
        plan = plan_crop(
            sample["boxes"][target], width, height, upsample=upsample, input_size_px=self.input_size_px
        )
        window = np.zeros((plan.height, plan.width, 3), np.uint8)
        window_masks = np.zeros((masks.shape[0], plan.height, plan.width), np.uint8)
        r0, c0 = max(plan.row_off, 0), max(plan.col_off, 0)
        r1, c1 = min(plan.row_off + plan.height, height), min(plan.col_off + plan.width, width)
        window[r0 - plan.row_off : r1 - plan.row_off, c0 - plan.col_off : c1 - plan.col_off] = sample[
            "image"
        ][r0:r1, c0:c1]
        window_masks[:, r0 - plan.row_off : r1 - plan.row_off, c0 - plan.col_off : c1 - plan.col_off] = (
            sample["masks"][:, r0:r1, c0:c1]
        )
        model_image = window_to_model_input(window, plan)
        size = self.input_size_px
        model_masks = np.zeros((masks.shape[0], size, size), bool)
        for i, m in enumerate(window_masks):
            if m.any():
                resized = cv2.resize(
                    m.astype(np.float32),
                    (plan.model_width, plan.model_height),
                    interpolation=cv2.INTER_LINEAR,
                )
                model_masks[i, : plan.model_height, : plan.model_width] = resized >= 0.5
        areas = model_masks.sum(axis=(1, 2))
        keep = areas >= self.min_area_px
        keep[target] = areas[target] > 0
        others = np.flatnonzero(keep & (np.arange(len(keep)) != target))
        if len(others) > self.max_objects - 1:
            keep[:] = False
            keep[rng.choice(others, self.max_objects - 1, replace=False)] = True
            keep[target] = areas[target] > 0
        cropped: Sample = {**sample, "image": model_image, "masks": model_masks}  # type: ignore[typeddict-item]
        cropped["boxes"] = masks_to_boxes_xyxy(model_masks)
        out = select_objects(cropped, keep)
        if self.photometric:
            out = photometric_jitter(out, rng)
        out = finish_sample(out, rng, self.box_noise, 0)
        if self.background_boxes:
            out = _with_background_boxes(out, model_masks, (plan.model_height, plan.model_width), self, rng)
        return out


def _with_background_boxes(
    sample: Sample,
    all_masks: np.ndarray,
    valid_hw: tuple[int, int],
    crop: BoxCentredCrop,
    rng: np.random.Generator,
) -> Sample:
    """Append background prompts (exact boxes, empty masks) covering none of ``all_masks``' boxes."""
    from rossam_geo.evaluate.background import boxes_occupancy, sample_background_boxes

    size = crop.input_size_px
    labelled = masks_to_boxes_xyxy(all_masks[all_masks.any(axis=(1, 2))])
    occupied = boxes_occupancy(labelled, size, size)[: valid_hw[0], : valid_hw[1]]
    sizes_wh = sample["boxes"][:, 2:] - sample["boxes"][:, :2]
    boxes = sample_background_boxes(occupied, sizes_wh, crop.background_boxes, rng)
    if len(boxes) == 0:
        return sample
    out: Sample = dict(sample)  # type: ignore[assignment]
    out["masks"] = np.concatenate([sample["masks"], np.zeros((len(boxes), size, size), bool)])
    out["boxes"] = np.concatenate([sample["boxes"], boxes])
    out["prompt_boxes"] = np.concatenate([sample["prompt_boxes"], boxes])
    out["classes"] = [*sample["classes"], *(["background"] * len(boxes))]
    return out


@dataclass(frozen=True)
class CompactTrainSettings:
    """Settings of one compact training run.

    Attributes:
        minutes: wall-clock training budget; the learning rate follows a cosine over it.
        batch_size: images per step.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        loss_points: points per mask of the point-sampled BCE + Dice loss.
        workers: data-loading processes.
        seed: seeds the network initialisation, the shuffling and the augmentations.
        save_every_minutes: export a checkpoint this often.
        max_steps: stop after this many steps even when time is left (None: time only).
        threads: torch CPU threads of the training process (1 is several times faster than 2 on a busy
            machine, where threads wait for each other).
        iou_loss_weight: weight of the IoU-head loss (:func:`rossam_geo.train.losses.iou_head_loss`, on the
            decoder trained at each step); 0 leaves the heads untrained.
        iou_head_only: train only the IoU-prediction heads (:func:`iou_head_parameters`) of a given model,
            every other parameter frozen, so its masks stay bit-identical; needs ``iou_loss_weight`` > 0.
        background_boxes: prompt boxes over background per crop, with empty targets (see
            :class:`BoxCentredCrop`).
    """

    minutes: float = 35.0
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 150
    loss_points: int = 64 * 64
    workers: int = 1
    seed: int = 0
    save_every_minutes: float = 5.0
    max_steps: int | None = None
    threads: int = 1
    iou_loss_weight: float = 1.0
    iou_head_only: bool = False
    background_boxes: int = 0


def iou_head_parameters(model: RosSam) -> dict[str, nn.Parameter]:
    """The parameters of both decoders' IoU-prediction MLPs, by name (:data:`IOU_HEAD_PREFIXES`).

    They read the decoders' IoU-token outputs and feed nothing else, so training only them changes the
    scores and never the masks.
    """
    return {name: p for name, p in model.named_parameters() if name.startswith(IOU_HEAD_PREFIXES)}


def train_compact(
    annotations_json: str | Path,
    output_path: str | Path,
    settings: CompactTrainSettings = CompactTrainSettings(),
    log: Callable[[str], None] = print,
    model: RosSam | None = None,
) -> dict[str, Any]:
    """Train the compact model from scratch on a COCO dataset and export it as a merged safetensors file.

    Args:
        annotations_json: COCO instance JSON (e.g. from :func:`rossam_geo.synth.write_coco_dataset`).
        output_path: the merged export to write (overwritten, atomically, at every save).
        settings: run settings.
        log: receives one progress line per logging interval.
        model: the network to train (default: :data:`~rossam_geo.model.compact.COMPACT_CONFIG`, no LoRA).

    Returns:
        A summary: steps, images seen, minutes, final loss, settings and device.

    Raises:
        InputError: ``iou_head_only`` without a ``model`` or with ``iou_loss_weight`` 0.
    """
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.checkpoint import export_merged
    from rossam_geo.model.compact import COMPACT_CONFIG
    from rossam_geo.train.data import AugmentedDataset, CocoInstances, collate_samples
    from rossam_geo.train.loop import training_step
    from rossam_geo.train.losses import MaskLoss

    if settings.iou_head_only and (model is None or not settings.iou_loss_weight > 0):
        raise InputError(
            "iou_head_only trains the IoU heads of a trained model: pass the model (--init-weights) and an "
            f"iou_loss_weight > 0 (got {settings.iou_loss_weight})"
        )
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    net = model if model is not None else build_rossam(COMPACT_CONFIG, lora_rank=0)
    heads = iou_head_parameters(net)
    net.requires_grad_(not settings.iou_head_only)
    for p in heads.values():
        p.requires_grad_(True)
    trainable = [p for p in net.parameters() if p.requires_grad]
    net.train()
    source = CocoInstances(annotations_json)
    crop = BoxCentredCrop(net.image_size_px, background_boxes=settings.background_boxes)
    dataset = AugmentedDataset(source, range(len(source)), crop, seed=settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=settings.batch_size,
        sampler=RandomSampler(dataset, replacement=True, num_samples=10**8, generator=generator),  # type: ignore[arg-type]
        collate_fn=collate_samples,
        num_workers=settings.workers,
        persistent_workers=settings.workers > 0,
    )
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    loss_fn = MaskLoss(sampling="points", num_points=settings.loss_points)
    groups = {
        "sam_decoder": [p for p in net.mask_decoder.parameters() if p.requires_grad],
        "hq_decoder": [p for p in net.hq_decoder.parameters() if p.requires_grad],
    }
    budget_s = settings.minutes * 60.0
    start = last_save = last_log = time.monotonic()
    step, images, recent, recent_iou = 0, 0, [], []
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    for batch in loader:
        elapsed = time.monotonic() - start
        if elapsed >= budget_s or (settings.max_steps is not None and step >= settings.max_steps):
            break
        warm = min(1.0, (step + 1) / settings.warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, elapsed / budget_s)))
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * warm * (0.02 + 0.98 * cosine)
        _, stats = training_step(
            net,
            optimizer,
            batch,
            step,
            loss_fn,
            groups,
            lambda loss: loss.backward(),
            iou_loss_weight=settings.iou_loss_weight,
        )
        recent.append(stats["loss"])
        recent_iou.append(stats["iou_mse"])
        step += 1
        images += len(batch["image_ids"])
        now = time.monotonic()
        if now - last_log > 60:
            log(
                f"step {step} images {images} min {elapsed / 60:.1f} loss {np.mean(recent[-100:]):.4f} "
                f"iou mse {np.mean(recent_iou[-100:]):.4f}"
            )
            last_log = now
        if now - last_save > settings.save_every_minutes * 60:
            export_merged(net.eval(), output_path, base_name="random-init:compact", overwrite=True)
            net.train()
            last_save = now
    net.eval()
    export_merged(net, output_path, base_name="random-init:compact", overwrite=True)
    summary = {
        "steps": step,
        "images_seen": images,
        "train_minutes": round((time.monotonic() - start) / 60.0, 2),
        "final_loss": float(np.mean(recent[-100:])) if recent else float("nan"),
        "final_iou_mse": float(np.mean(recent_iou[-100:])) if recent_iou else float("nan"),
        "trained": "iou heads" if settings.iou_head_only else "all parameters",
        "settings": asdict(settings),
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
    }
    log(json.dumps(summary))
    return summary
