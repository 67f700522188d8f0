"""Training recipe of rossam-compact-v4: scenes generated on CPU workers while a GPU trains, in a time budget.

One call of :func:`train_stream` (``scripts/train_compact.py --recipe v4``):

* starts DataLoader worker processes that generate scenes and cut crops endlessly
  (:class:`~rossam_geo.synth.stream.SceneCropStream`); a thread moves their batches into a small queue;
* trains a randomly initialised network (:data:`~rossam_geo.model.compact.COMPACT_V4_CONFIG`) with AdamW,
  linear warm-up and a cosine decay over the time budget, bf16 autocast on CUDA; every step trains the HQ
  decoder, whose output the ``rossam`` engine uses, with point-sampled BCE + Dice on its mask and the IoU-head
  loss on its predicted IoU (:func:`rossam_geo.train.losses.iou_head_loss`);
* when no fresh batch is ready, replays a recent batch under a random symmetry of the square (at most
  ``max_replay`` replays per fresh batch), so the GPU does not wait on the workers; the log shows both the
  replay share and the time spent waiting for data;
* stops at the budget or on SIGTERM / SIGINT, saves the merged weights (atomically, also every
  ``save_every_s``) and a JSON card (steps, samples, seconds, device, torch version, seed, loss curve).

The same code runs on the CPU (tests use a budget of seconds); only autocast is CUDA-specific.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from rossam_geo.model.rossam import RosSam


@dataclass(frozen=True)
class GpuTrainSettings:
    """Settings of one streamed training run.

    Attributes:
        seconds: wall-clock budget of the whole run (start-up, training, saving, optional validation).
        device: torch device (``"cuda"``, ``"cpu"``...).
        config: compact configuration name (:data:`rossam_geo.model.compact.COMPACT_CONFIGS`).
        batch_size: crops per step.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        min_lr_fraction: the cosine ends at this fraction of ``lr``.
        grad_clip: gradient-norm clip (0: none).
        loss_points: points per mask of the point-sampled BCE + Dice loss.
        iou_loss_weight: weight of the IoU-head loss.
        workers: data worker processes (0: generate in the training process).
        queue_batches: batches held ready in the queue.
        max_replay: replayed steps per fresh batch at most (0: always wait for fresh data).
        replay_batches: recent batches kept (on the device) for replay.
        attention: encoder attention kernel while training (``"sdpa"`` or ``"reference"``).
        save_every_s: export the weights this often.
        log_every_s: print a progress line this often.
        validation_scenes: scenes of the end-of-run synthetic validation (0: none).
        validation_reserve_s: seconds kept from training for that validation.
    """

    seconds: float = 240.0
    device: str = "cuda"
    config: str = "compact-v4"
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 200
    min_lr_fraction: float = 0.02
    grad_clip: float = 1.0
    loss_points: int = 64 * 64
    iou_loss_weight: float = 1.0
    workers: int = 12
    queue_batches: int = 8
    max_replay: float = 2.0
    replay_batches: int = 16
    attention: str = "sdpa"
    save_every_s: float = 60.0
    log_every_s: float = 10.0
    validation_scenes: int = 0
    validation_reserve_s: float = 30.0


@dataclass
class Progress:
    """Counters of a run (replayed: steps on a recent batch under a symmetry; wait: seconds spent waiting for
    a batch; curve: one entry per progress line)."""

    steps: int = 0
    fresh_samples: int = 0
    replayed_samples: int = 0
    replayed_steps: int = 0
    wait_s: float = 0.0
    train_s: float = 0.0
    losses: list[float] = field(default_factory=list)
    curve: list[dict[str, float]] = field(default_factory=list)


def lr_factor(step: int, elapsed_fraction: float, warmup_steps: int, min_fraction: float) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup_steps``, then a cosine over the time budget
    from 1 down to ``min_fraction`` (``elapsed_fraction`` of the budget spent, clipped to [0, 1])."""
    warm = min(1.0, (step + 1) / max(1, warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, elapsed_fraction))))
    return warm * (min_fraction + (1.0 - min_fraction) * cosine)


def square_symmetry(batch: dict[str, Any], transpose: bool, flip_lr: bool, flip_ud: bool) -> dict[str, Any]:
    """A collated batch under a symmetry of the square input: images, masks and prompt boxes alike.

    Images are (B, S, S, 3), masks B tensors (N_i, S, S), prompt boxes B tensors (N_i, 4) XYXY pixel edges.
    """
    size = batch["images"].shape[1]
    images, masks, boxes = batch["images"], list(batch["masks"]), list(batch["prompt_boxes"])
    if transpose:
        images = images.transpose(1, 2)
        masks = [m.transpose(1, 2) for m in masks]
        boxes = [b[:, [1, 0, 3, 2]] for b in boxes]
    if flip_lr:
        images = images.flip(2)
        masks = [m.flip(2) for m in masks]
        boxes = [b * b.new_tensor([-1, 1, -1, 1]) + b.new_tensor([size, 0, size, 0]) for b in boxes]
        boxes = [b[:, [2, 1, 0, 3]] for b in boxes]
    if flip_ud:
        images = images.flip(1)
        masks = [m.flip(1) for m in masks]
        boxes = [b * b.new_tensor([1, -1, 1, -1]) + b.new_tensor([0, size, 0, size]) for b in boxes]
        boxes = [b[:, [0, 3, 2, 1]] for b in boxes]
    return {**batch, "images": images.contiguous(), "masks": masks, "prompt_boxes": boxes}


def hq_step_losses(
    net: RosSam, batch: dict[str, Any], loss_fn: Any, iou_weight: float, autocast: Callable[[], Any]
) -> dict[str, torch.Tensor]:
    """Losses of the HQ decoder on a batch, every prompt of every image decoded in one pass.

    Returns:
        ``loss`` (to minimise), ``mask`` (BCE + Dice) and ``iou`` (IoU-head MSE), scalar tensors.
    """
    import torch
    import torch.nn.functional as F

    from rossam_geo.train.losses import iou_head_loss

    boxes = batch["prompt_boxes"]
    index = torch.cat([torch.full((len(b),), i, dtype=torch.long) for i, b in enumerate(boxes)]).to(
        net.device
    )
    targets = torch.cat(list(batch["masks"])).to(net.device)
    with autocast():
        embeddings, interm = net.image_encoder(net.preprocess(batch["images"].permute(0, 3, 1, 2)))
        sparse, dense = net.prompt_encoder(points=None, boxes=torch.cat(boxes).to(net.device), masks=None)
        features = net.hq_decoder.hq_features(embeddings, interm)
        _, iou_pred, hq_masks = net.hq_decoder.predict_masks_hq(
            embeddings[index], net.prompt_encoder.get_dense_pe(), sparse, dense, features[index]
        )
    logits = hq_masks[:, 0].float()
    mask_loss = loss_fn(logits, targets)["loss"]
    full = F.interpolate(logits[:, None], size=targets.shape[-2:], mode="bilinear", align_corners=False)
    iou_loss = iou_head_loss(iou_pred[:, :1].float(), full, targets[:, None])
    return {"loss": mask_loss + iou_weight * iou_loss, "mask": mask_loss.detach(), "iou": iou_loss.detach()}


class Feeder:
    """Pulls batches from a DataLoader on a thread into a bounded queue (so the trainer can poll it)."""

    def __init__(self, batches: Iterator[dict[str, Any]], size: int) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=size)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(batches,), daemon=True)
        self.thread.start()

    def _run(self, batches: Iterator[dict[str, Any]]) -> None:
        try:
            for batch in batches:
                while not self.stop.is_set():
                    try:
                        self.queue.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self.stop.is_set():
                    return
        except BaseException as exc:  # a dead worker: reported by the trainer
            self.error = exc

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next batch, waiting up to ``timeout`` seconds (0: not at all); None when none came.

        Raises:
            RuntimeError: scene generation failed in a worker.
        """
        if self.error is not None:
            raise RuntimeError(f"scene generation failed: {self.error}") from self.error
        try:
            return self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop pulling batches (the DataLoader's workers end when its iterator is dropped)."""
        self.stop.set()
        self.thread.join(timeout=2.0)


def start_feeder(batches: Iterator[dict[str, Any]], size: int) -> Feeder:
    """A :class:`Feeder` of ``batches`` holding up to ``size`` batches, already running."""
    return Feeder(batches, size)


def batch_to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A collated batch with its images, masks and prompt boxes on ``device`` (non-blocking copies)."""
    return {
        **batch,
        "images": batch["images"].to(device, non_blocking=True),
        "masks": [m.to(device, non_blocking=True) for m in batch["masks"]],
        "prompt_boxes": [b.to(device, non_blocking=True) for b in batch["prompt_boxes"]],
    }
