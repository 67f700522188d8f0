"""The ``grabcut`` engine: OpenCV GrabCut initialised from the prompt box.

A classical, weight-free baseline. GrabCut fits two colour mixture models (inside / outside the box) and
cuts the graph 5 times, on the box plus a ring of context (half the box's long side, at least 16 px) taken
from the window at native resolution. cv2's random generator is seeded before every object, so results are
deterministic. When GrabCut cannot run (box narrower than 3 px, no background left around the box, an
OpenCV error) or finds no foreground, the box itself is returned and the prediction's ``notes`` say why.
Score: always 1.0, the top of the [0, 1] range every engine's score lies in. It is not a predicted IoU:
GrabCut has no calibrated confidence, so its score neither ranks results nor flags bad ones (its Spearman
correlation with IoU is undefined in ``rossam-geo evaluate``); a fallback to the box shows in ``notes``.

Clicks are seeds: each click marks the pixels connected to it whose colour is within ``SEED_TOLERANCE`` of the
clicked pixel's (per channel), up to a quarter of the box's long side away (at least 2 px), as definite
foreground (label 1) or definite background (label 0); GrabCut then starts from the box and these seeds
(later clicks win where seeds overlap). Clicks outside the box and its context ring are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rossam_geo.engines.base import EnginePrediction, check_point_arrays
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
#: a click's seed: pixels connected to it within this colour difference (0-255, per channel) of the clicked
#: pixel, within SEED_RADIUS_FRACTION of the box's long side (at least MIN_SEED_RADIUS_PX) from it.
SEED_TOLERANCE = 24
SEED_RADIUS_FRACTION = 0.25
MIN_SEED_RADIUS_PX = 2


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


def click_seed(image_rgb_u8: np.ndarray, x: float, y: float, radius_px: float) -> np.ndarray:
    """(H, W) bool: the pixels connected to the click at (x, y) (4-connected) whose colour is within
    :data:`SEED_TOLERANCE` of the clicked pixel's, at most ``radius_px`` from the click; empty outside."""
    import cv2

    height, width = image_rgb_u8.shape[:2]
    col, row = math.floor(x), math.floor(y)
    if not (0 <= col < width and 0 <= row < height):
        return np.zeros((height, width), bool)
    filled = np.zeros((height + 2, width + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    tolerance = (SEED_TOLERANCE,) * 3
    cv2.floodFill(
        np.ascontiguousarray(image_rgb_u8), filled, (col, row), (0, 0, 0), tolerance, tolerance, flags
    )
    rows, cols = np.ogrid[:height, :width]
    near = (cols + 0.5 - x) ** 2 + (rows + 0.5 - y) ** 2 <= radius_px**2
    return (filled[1:-1, 1:-1] > 0) & near


def grabcut_logits(
    image_rgb_u8: np.ndarray,
    box_px_xyxy: np.ndarray,
    points_px_xy: np.ndarray | None = None,
    point_labels: np.ndarray | None = None,
) -> tuple[np.ndarray, str | None]:
    """Segment one object with GrabCut.

    Args:
        image_rgb_u8: (H, W, 3) uint8 RGB.
        box_px_xyxy: (4,) XYXY box in the image's pixel frame.
        points_px_xy, point_labels: optional (K, 2) clicks in the same frame and their (K,) labels (1
            object, 0 background, -1 none), used as seeds (see the module docstring).

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
    rect, mode = (x - c0, y - r0, w, h), cv2.GC_INIT_WITH_RECT
    clicks = [] if point_labels is None else [i for i, label in enumerate(point_labels) if label in (0, 1)]
    if clicks and points_px_xy is not None and point_labels is not None:
        mask[y - r0 : y - r0 + h, x - c0 : x - c0 + w] = cv2.GC_PR_FGD
        radius = max(MIN_SEED_RADIUS_PX, SEED_RADIUS_FRACTION * max(w, h))
        for i in clicks:
            px, py = float(points_px_xy[i][0]) - c0, float(points_px_xy[i][1]) - r0
            seed = click_seed(roi_bgr[:, :, ::-1], px, py, radius)
            mask[seed] = cv2.GC_FGD if int(point_labels[i]) == 1 else cv2.GC_BGD
        mode = cv2.GC_INIT_WITH_MASK
    cv2.setRNGSeed(RNG_SEED)
    try:
        cv2.grabCut(roi_bgr, mask, rect, bgd_model, fgd_model, ITERATIONS, mode)
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

    def predict(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> NotedPrediction:
        """Run GrabCut per image, with any clicks as seeds; see
        :meth:`rossam_geo.engines.base.Engine.predict`."""
        clicks = check_point_arrays(points_px_xy, point_labels, len(images_rgb_u8))
        results = [
            grabcut_logits(
                images_rgb_u8[b],
                boxes_px_xyxy[b],
                None if clicks is None else clicks[0][b],
                None if clicks is None else clicks[1][b],
            )
            for b in range(len(images_rgb_u8))
        ]
        batch, height, width = images_rgb_u8.shape[:3]
        logits = np.stack([r[0] for r in results]) if results else np.zeros((0, height, width), np.float32)
        return NotedPrediction(
            mask_logits=logits,
            scores=np.ones(batch, np.float32),
            notes=tuple(r[1] for r in results),
        )
