"""The engine protocol: what the segment pipeline asks of a segmentation model.

An engine sees only arrays: model-input images and boxes in that image's pixel frame. Everything geographic
(windows, CRSs, paste-back, polygons) stays in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class EnginePrediction:
    """Masks predicted for a batch of single-object inputs.

    Attributes:
        mask_logits: (B, H, W) float32, same H, W as the engine's input images; a pixel belongs to the object
            where the logit is > 0.
        scores: (B,) float32 in [0, 1], the engine's confidence per object (SAM-type engines: predicted IoU;
            engines without a confidence, ``box`` and ``grabcut``: always 1.0).
    """

    mask_logits: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class WindowPrediction:
    """Masks predicted for a batch of raster windows (engines that resample on their device).

    Attributes:
        masks: (B, h, w) bool object masks at window resolution.
        scores: (B,) float32 confidence per object, in [0, 1].
    """

    masks: np.ndarray
    scores: np.ndarray


@runtime_checkable
class Engine(Protocol):
    """A box-prompted single-object segmenter.

    Attributes:
        name: engine name as given on the command line (``"box"``, ``"grabcut"``, ``"rossam"``...).
        model_name: the model behind it (weights file or configuration), recorded in every output feature.
        input_size_px: side of the square model input in pixels (1024 for the SAM family). The pipeline
            resizes each window to fit (bicubic, padded bottom-right). ``None``: the engine takes each window
            at native resolution, without resizing.
        max_batch: largest number of inputs the engine wants in one :meth:`predict` call.

    An engine may also resample on its own device: with an attribute ``takes_windows = True`` it has a
    method ``predict_windows(windows_rgb_u8 (B, h, w, 3), boxes_window_px_xyxy (B, 4), model_hw) ->``
    :class:`WindowPrediction`, which the pipeline then calls with the raster windows instead of
    :meth:`predict` with model inputs (see ``SamFamilyEngine.predict_windows``).
    """

    name: str
    model_name: str
    input_size_px: int | None
    max_batch: int

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        """Segment one object per image.

        Args:
            images_rgb_u8: (B, H, W, 3) uint8 RGB images.
            boxes_px_xyxy: (B, 4) float64, one box per image, XYXY in that image's pixel frame (x right,
                y down; pixel (0, 0) covers [0, 1) x [0, 1)).

        Returns:
            An :class:`EnginePrediction` with (B, H, W) mask logits and (B,) scores.
        """
        ...
