"""What a training run reports: the numbers of each epoch, the run's result, and its progress bar."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EpochRecord", "Progress", "TrainResult", "progress_bar"]


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


class Progress:
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


def progress_bar(enabled: bool) -> Progress | None:
    """A :class:`Progress` when ``enabled``."""
    return Progress() if enabled else None
