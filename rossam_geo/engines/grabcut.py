"""The ``grabcut`` engine: OpenCV GrabCut initialised from the prompt box.

A classical, weight-free baseline. GrabCut fits two colour mixture models (inside / outside the box) and
cuts the graph 5 times, on the box plus a ring of context (half the box's long side, at least 16 px) taken
from the window at native resolution. cv2's random generator is seeded before every object, so results are
deterministic. When GrabCut cannot run (box narrower than 3 px, no background left around the box, an
OpenCV error) or finds no foreground, the box itself is returned and the prediction's ``notes`` say why.
Score: always 1.0, the top of the [0, 1] range every engine's score lies in. It is not a predicted IoU:
GrabCut has no calibrated confidence, so its score neither ranks results nor flags bad ones (its Spearman
correlation with IoU is undefined in ``rossam-geo evaluate``); a fallback to the box shows in ``notes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rossam_geo.engines.base import EnginePrediction
from rossam_geo.engines.box import DEFAULT_MAX_BATCH, box_logits, reject_weights

#: GrabCut iterations (the OpenCV sample's value).
ITERATIONS = 5
#: boxes thinner than this (pixels) fall back to the box.
MIN_BOX_SIDE_PX = 3
#: seed of cv2's random generator, set before every object.
RNG_SEED = 0
#: GrabCut runs on the box plus this margin (fraction of the box's long side, at least MIN_CONTEXT_PX).
CONTEXT_FRACTION = 0.5
MIN_CONTEXT_PX = 16


@dataclass(frozen=True)
class NotedPrediction(EnginePrediction):
    """An :class:`EnginePrediction` with one optional note per object (why a fallback was used)."""

    notes: tuple[str | None, ...] = ()


def box_rect(box_px_xyxy: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """The pixel rectangle (x, y, w, h) covering a float XYXY box, clipped to a (height, width) image."""
    x0 = max(0, math.floor(float(box_px_xyxy[0])))
    y0 = max(0, math.floor(float(box_px_xyxy[1])))
    x1 = min(width, math.ceil(float(box_px_xyxy[2])))
    y1 = min(height, math.ceil(float(box_px_xyxy[3])))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def grabcut_logits(image_rgb_u8: np.ndarray, box_px_xyxy: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Segment one object with GrabCut.

    Args:
        image_rgb_u8: (H, W, 3) uint8 RGB.
        box_px_xyxy: (4,) XYXY box in the image's pixel frame.

    Returns:
        ((H, W) float32 logits, +1 foreground / -1 background; a note when the box was used instead).
    """
    import cv2

    height, width = image_rgb_u8.shape[:2]
    x, y, w, h = box_rect(box_px_xyxy, height, width)
    if w < MIN_BOX_SIDE_PX or h < MIN_BOX_SIDE_PX:
        return box_logits(
            height, width, box_px_xyxy
        ), f"grabcut skipped: box is {w}x{h} px (< 3 px); used the box"
    if w >= width and h >= height:
        return box_logits(
            height, width, box_px_xyxy
        ), "grabcut skipped: the box fills the window; used the box"
    # The colour models are fitted on the box and a ring of context around it, not the whole window.
    context = max(MIN_CONTEXT_PX, math.ceil(CONTEXT_FRACTION * max(w, h)))
    c0, r0 = max(0, x - context), max(0, y - context)
    c1, r1 = min(width, x + w + context), min(height, y + h + context)
    roi_bgr = np.ascontiguousarray(image_rgb_u8[r0:r1, c0:c1, ::-1])
    mask = np.zeros(roi_bgr.shape[:2], np.uint8)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(RNG_SEED)
    try:
        cv2.grabCut(
            roi_bgr, mask, (x - c0, y - r0, w, h), bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_RECT
        )
    except cv2.error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return box_logits(height, width, box_px_xyxy), f"grabcut failed ({reason}); used the box"
    foreground = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    if not foreground.any():
        return box_logits(height, width, box_px_xyxy), "grabcut found no foreground; used the box"
    logits = np.full((height, width), np.float32(-1.0))
    logits[r0:r1, c0:c1][foreground] = 1.0
    return logits, None


class GrabCutEngine:
    """OpenCV GrabCut from the box, 5 iterations, on the window at native resolution.

    Args:
        weights: must be None (the engine has none).
        device: accepted for a uniform engine interface and ignored (GrabCut runs on the CPU).
        batch_size: boxes per predict call (default 16).
    """

    name = "grabcut"
    model_name = f"opencv-grabcut-{ITERATIONS}it"
    input_size_px: int | None = None

    def __init__(self, weights: Any = None, device: str = "auto", batch_size: int | None = None) -> None:
        reject_weights(self.name, weights)
        self.max_batch = int(batch_size) if batch_size else DEFAULT_MAX_BATCH

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> NotedPrediction:
        """Run GrabCut per image; see :meth:`rossam_geo.engines.base.Engine.predict`."""
        results = [grabcut_logits(images_rgb_u8[b], boxes_px_xyxy[b]) for b in range(len(images_rgb_u8))]
        batch, height, width = images_rgb_u8.shape[:3]
        logits = np.stack([r[0] for r in results]) if results else np.zeros((0, height, width), np.float32)
        return NotedPrediction(
            mask_logits=logits,
            scores=np.ones(batch, np.float32),
            notes=tuple(r[1] for r in results),
        )
