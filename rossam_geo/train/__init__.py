"""Training ROS-SAM: datasets, augmentations, losses and the Fabric training loop.

``TrainConfig`` holds a run's options (defaults: the paper's); ``train(config)`` runs it. The heavy modules
(torch, Lightning) load only when :func:`train` or the loop's names are used.
"""

from __future__ import annotations

import importlib
from typing import Any

from rossam_geo.train.config import TrainConfig

_LAZY = {
    "train": "rossam_geo.train.loop",
    "TrainResult": "rossam_geo.train.records",
    "EpochRecord": "rossam_geo.train.records",
    "MaskLoss": "rossam_geo.train.losses",
    "iou_head_loss": "rossam_geo.train.losses",
    "upsampled_iou_head_loss": "rossam_geo.train.losses",
    "open_dataset": "rossam_geo.train.data",
    "TrainTransform": "rossam_geo.train.transforms",
    "EvalTransform": "rossam_geo.train.transforms",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rossam_geo.train' has no attribute {name!r}")


__all__ = ["TrainConfig", *_LAZY]
