"""One training step of the alternating decoders, validation of both decoders, and the epoch sampler."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

    from rossam_geo.train.losses import MaskLoss

__all__ = ["Decoder", "EpochShardSampler", "decoder_for_step", "training_step", "validate"]

Decoder = Literal["sam", "hq"]


def decoder_for_step(step: int) -> Decoder:
    """The decoder trained at global step ``step``: ``sam`` on even steps, ``hq`` on odd steps."""
    return "sam" if step % 2 == 0 else "hq"


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
