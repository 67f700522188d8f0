"""The engine protocol: what the segment pipeline asks of a segmentation model.

An engine sees only arrays: model-input images and boxes in that image's pixel frame, and optionally clicks
that refine an object (points with labels, in the same frame). Everything geographic (windows, CRSs,
paste-back, polygons) stays in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from rossam_geo.errors import InputError

#: label of a padding point (objects with fewer clicks than others in a batch).
PAD_LABEL = -1


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
    :meth:`predict` with model inputs (see ``SamFamilyEngine.predict_windows``); it takes the same optional
    points as :meth:`predict`, in window pixels.

    Clicks: the pipeline passes ``points_px_xy`` and ``point_labels`` only when some object of the batch
    has clicks, so an engine without them keeps working for boxes alone. The SAM family gives them to SAM's
    prompt encoder with the box, ``grabcut`` takes them as seeds, ``box`` ignores them.
    """

    name: str
    model_name: str
    input_size_px: int | None
    max_batch: int

    def predict(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> EnginePrediction:
        """Segment one object per image.

        Args:
            images_rgb_u8: (B, H, W, 3) uint8 RGB images.
            boxes_px_xyxy: (B, 4) float64, one box per image, XYXY in that image's pixel frame (x right,
                y down; pixel (0, 0) covers [0, 1) x [0, 1)).
            points_px_xy: optional (B, K, 2) float64 XY clicks in the same frame as the boxes.
            point_labels: (B, K) int labels of the clicks: 1 on the object, 0 off it, -1 padding (objects
                with fewer than K clicks).

        Returns:
            An :class:`EnginePrediction` with (B, H, W) mask logits and (B,) scores.
        """
        ...


def check_point_arrays(
    points_px_xy: np.ndarray | None, point_labels: np.ndarray | None, count: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Clicks given to an engine, checked: None without them, else (count, K, 2) float64 XY and (count, K)
    int64 labels.

    Raises:
        InputError: only one of the two given, wrong shapes, labels other than 1, 0 and -1, or non-finite
            points that are not padding.
    """
    if points_px_xy is None and point_labels is None:
        return None
    if points_px_xy is None or point_labels is None:
        raise InputError("give points and point labels together")
    points = np.asarray(points_px_xy, dtype=np.float64)
    labels = np.asarray(point_labels)
    if points.ndim != 3 or points.shape[0] != count or points.shape[2] != 2:
        raise InputError(f"expected ({count}, K, 2) XY points, one row per box, got {points.shape}")
    if labels.shape != points.shape[:2] or not np.isin(labels, (PAD_LABEL, 0, 1)).all():
        raise InputError(
            f"expected {points.shape[:2]} point labels of 1 (object), 0 (background) or -1 (padding), got "
            f"{labels.tolist()!r:.80}"
        )
    labels = labels.astype(np.int64)
    if not np.isfinite(points[labels != PAD_LABEL]).all():
        raise InputError("points must be finite")
    return points, labels
