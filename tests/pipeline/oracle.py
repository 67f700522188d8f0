"""A test-only engine that knows the answer: objects are the pixels with a saturated green channel.

The scenes of these tests (see ``draw_key_scene``) keep the green channel at 0 everywhere except inside
objects, where it is 255. After bicubic resampling the green channel is the interpolated object indicator,
so the oracle's logit ``(G - 127.5) / 127.5`` is positive exactly where the model pixel is more object than
background. For axis-aligned rectangles at least 3 px apart this survives the 2x bicubic upsampling and the
bilinear paste-back pixel-exactly, so tests can compare the pipeline's polygons with the drawn rectangles.
"""

from __future__ import annotations

import numpy as np

from rossam_geo.engines.base import EnginePrediction

#: value of the green channel inside objects; background green is 0.
KEY_GREEN = 255


class OracleEngine:
    """Segments the green objects of the model input; records every predict call.

    Args:
        input_size_px: square model input side (None: native resolution).
        max_batch: default batch size.
    """

    name = "oracle"
    model_name = "oracle-green-channel"

    def __init__(self, input_size_px: int | None = 128, max_batch: int = 4) -> None:
        self.input_size_px = input_size_px
        self.max_batch = max_batch
        self.calls: list[tuple[tuple[int, ...], np.ndarray]] = []
        #: the clicks of each call: None, or (points (B, K, 2), labels (B, K)) as given.
        self.clicks: list[tuple[np.ndarray, np.ndarray] | None] = []

    def predict(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> EnginePrediction:
        """The green objects of each image (clicks are recorded, not used)."""
        assert images_rgb_u8.dtype == np.uint8 and images_rgb_u8.ndim == 4
        self.calls.append((images_rgb_u8.shape, np.array(boxes_px_xyxy, dtype=np.float64)))
        self.clicks.append(None if points_px_xy is None else (np.array(points_px_xy), np.array(point_labels)))
        green = images_rgb_u8[..., 1].astype(np.float32)
        logits = (green - 127.5) / 127.5
        return EnginePrediction(mask_logits=logits, scores=np.full(len(images_rgb_u8), 0.75, np.float32))


class FailingOracle(OracleEngine):
    """The oracle, except that it raises for any input holding a box whose model xmin is below 0.5 px."""

    name = "failing-oracle"

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        if (np.asarray(boxes_px_xyxy)[:, 0] < 0.5).any():
            raise RuntimeError("simulated model failure")
        return super().predict(images_rgb_u8, boxes_px_xyxy)
