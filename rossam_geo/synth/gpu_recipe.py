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

import numpy as np

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
    """A batch (:func:`host_tensors` layout) under a symmetry of the square input: images, masks and prompt
    boxes alike. Only device operations: nothing is copied from the host, so nothing waits for the device."""
    import torch

    size = batch["images"].shape[1]
    images, masks, boxes = batch["images"], batch["masks"], batch["prompt_boxes"]
    if transpose:
        images, masks, boxes = images.transpose(1, 2), masks.transpose(1, 2), boxes[:, [1, 0, 3, 2]]
    if flip_lr:
        images, masks = images.flip(2), masks.flip(2)
        boxes = torch.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], dim=1)
    if flip_ud:
        images, masks = images.flip(1), masks.flip(1)
        boxes = torch.stack([boxes[:, 0], size - boxes[:, 3], boxes[:, 2], size - boxes[:, 1]], dim=1)
    return {**batch, "images": images.contiguous(), "masks": masks.contiguous(), "prompt_boxes": boxes}


def hq_step_losses(
    net: RosSam, batch: dict[str, Any], loss_fn: Any, iou_weight: float, autocast: Callable[[], Any]
) -> dict[str, torch.Tensor]:
    """Losses of the HQ decoder on a batch (:func:`host_tensors` layout, on the network's device), every
    prompt of every image decoded in one pass.

    Returns:
        ``loss`` (to minimise), ``mask`` (BCE + Dice) and ``iou`` (IoU-head MSE), scalar tensors.
    """
    import torch.nn.functional as F

    from rossam_geo.train.losses import iou_head_loss

    index, targets = batch["image_index"], batch["masks"]
    with autocast():
        embeddings, interm = net.image_encoder(net.preprocess(batch["images"].permute(0, 3, 1, 2)))
        sparse, dense = net.prompt_encoder(points=None, boxes=batch["prompt_boxes"], masks=None)
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
    """Pulls batches from a DataLoader on a thread, turns them into host tensors (pinned for a CUDA copy when
    ``pin``) and holds them in a bounded queue that the trainer polls."""

    def __init__(self, batches: Iterator[dict[str, Any]], size: int, pin: bool) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=size)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.pin = pin
        self.thread = threading.Thread(target=self._run, args=(batches,), daemon=True)
        self.thread.start()

    def _run(self, batches: Iterator[dict[str, Any]]) -> None:
        try:
            for arrays in batches:
                batch = host_tensors(arrays, self.pin)
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


def start_feeder(batches: Iterator[dict[str, Any]], size: int, pin: bool) -> Feeder:
    """A :class:`Feeder` of ``batches`` holding up to ``size`` batches, already running."""
    return Feeder(batches, size, pin)


def host_tensors(arrays: dict[str, Any], pin: bool) -> dict[str, Any]:
    """A numpy batch (:func:`rossam_geo.synth.stream.collate_crops`) as torch tensors, page-locked when
    ``pin`` (for CUDA), so that copies to the device neither wait for it nor for each other.

    Returns:
        ``images`` (B, S, S, 3) uint8, ``masks`` (M, S, S) bool, ``prompt_boxes`` (M, 4) float32,
        ``image_index`` (M,) int64 (the image of each prompt), ``classes`` (M names).
    """
    import torch

    def tensor(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.pin_memory() if pin else t

    return {name: tensor(arrays[name]) for name in ("images", "masks", "prompt_boxes", "image_index")} | {
        "classes": arrays["classes"]
    }


def batch_to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A batch of host tensors with its tensors on ``device`` (non-blocking copies)."""
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}
