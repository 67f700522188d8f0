"""The ``box`` engine: the prompt box itself as the mask.

It needs no weights and no model. It checks the geometry of the whole pipeline (a box must come back as the
same box on the map) and is the floor of every evaluation.

Score: always 1.0, the top of the [0, 1] range every engine's score lies in. It is not a predicted IoU: the
engine has no confidence of its own, so its score neither ranks results nor flags bad ones (its Spearman
correlation with IoU is undefined in ``rossam-geo evaluate``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rossam_geo.engines.base import EnginePrediction
from rossam_geo.errors import EngineError

#: boxes per predict call; the box engine is cheap, so batches only bound memory.
DEFAULT_MAX_BATCH = 16


def reject_weights(engine_name: str, weights: Any) -> None:
    """Raise EngineError when a weight-free engine is given weights."""
    if weights is not None:
        raise EngineError(
            f"the {engine_name!r} engine uses no weights but got weights={weights!r}; "
            "remove --weights or choose a SAM-family engine (rossam, sam, hq-sam)"
        )


def box_logits(height: int, width: int, box_px_xyxy: np.ndarray) -> np.ndarray:
    """Logits of a box drawn on a (height, width) image.

    A pixel is inside when its centre lies in the half-open box [xmin, xmax) x [ymin, ymax).

    Args:
        height, width: image shape in pixels.
        box_px_xyxy: (4,) XYXY box in the image's pixel frame.

    Returns:
        (height, width) float32: +1 inside the box, -1 outside.
    """
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    centres_x = np.arange(width) + 0.5
    centres_y = np.arange(height) + 0.5
    inside_x = (centres_x >= x0) & (centres_x < x1)
    inside_y = (centres_y >= y0) & (centres_y < y1)
    inside = inside_y[:, None] & inside_x[None, :]
    return np.where(inside, np.float32(1.0), np.float32(-1.0))


class BoxEngine:
    """Returns each prompt box as its mask, with score 1.0 (no confidence), at the window's native resolution;
    clicks are ignored.

    Args:
        weights: must be None (the engine has none).
        device: accepted for a uniform engine interface and ignored.
        batch_size: boxes per predict call (default 16).
    """

    name = "box"
    model_name = "box"
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
    ) -> EnginePrediction:
        """Draw each box on its image; clicks are ignored (the mask is the box whatever they say); see
        :meth:`rossam_geo.engines.base.Engine.predict`."""
        batch, height, width = images_rgb_u8.shape[:3]
        logits = np.stack([box_logits(height, width, boxes_px_xyxy[b]) for b in range(batch)])
        return EnginePrediction(
            mask_logits=logits.reshape(batch, height, width), scores=np.ones(batch, np.float32)
        )
