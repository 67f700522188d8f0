"""Test-only engines: an oracle that sees the generated objects' colours, and variants of it.

The generated sequences draw objects in saturated colours on a gray background, so "pixels whose channels
differ by more than 100" is exactly the set of object pixels.
"""

from __future__ import annotations

import time

import numpy as np

from rossam_geo.engines.base import EnginePrediction


def colour_mask(images_rgb_u8: np.ndarray) -> np.ndarray:
    """(B, H, W) bool: saturated-colour pixels."""
    spread = images_rgb_u8.max(axis=3).astype(np.int16) - images_rgb_u8.min(axis=3).astype(np.int16)
    return spread > 100


class OracleEngine:
    """Returns the object-colour pixels inside each box (native resolution)."""

    name = "oracle"
    model_name = "colour-oracle"
    input_size_px = None
    max_batch = 8

    def __init__(self, weights: object = None, device: str = "auto", batch_size: int | None = None) -> None:
        pass

    def _masks(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> np.ndarray:
        masks = colour_mask(images_rgb_u8)
        rows = np.arange(images_rgb_u8.shape[1])[:, None] + 0.5
        cols = np.arange(images_rgb_u8.shape[2])[None, :] + 0.5
        for i, (x0, y0, x1, y1) in enumerate(boxes_px_xyxy):
            masks[i] &= (cols > x0) & (cols < x1) & (rows > y0) & (rows < y1)
        return masks

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        masks = self._masks(images_rgb_u8, boxes_px_xyxy)
        return EnginePrediction(
            np.where(masks, 1.0, -1.0).astype(np.float32), np.ones(len(masks), np.float32)
        )


class HalfBlindOracleEngine(OracleEngine):
    """The oracle, but it returns an empty mask when the window's upper-left pixel is odd.

    Which boxes are missed depends only on the frame and the box (the window), never on the order of calls.
    """

    name = "half-blind"

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        masks = self._masks(images_rgb_u8, boxes_px_xyxy)
        for i, image in enumerate(images_rgb_u8):
            if int(image[0, 0, 0]) % 2 == 1:
                masks[i] = False
        return EnginePrediction(
            np.where(masks, 1.0, -1.0).astype(np.float32), np.ones(len(masks), np.float32)
        )


class SlowBoxEngine(OracleEngine):
    """The oracle, taking 0.25 s per call (to keep tasks running while a worker is killed)."""

    name = "slow-oracle"

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        time.sleep(0.25)
        return super().predict(images_rgb_u8, boxes_px_xyxy)


_BUILDS = {"count": 0}


class FirstBuildFailsEngine(OracleEngine):
    """The oracle, but building it fails the first time in each process (a flaky model load)."""

    name = "flaky-load"

    def __init__(self, weights: object = None, device: str = "auto", batch_size: int | None = None) -> None:
        from rossam_geo.errors import EngineError

        _BUILDS["count"] += 1
        if _BUILDS["count"] == 1:
            raise EngineError("model load failed (first attempt in this process)")


#: engine name -> "module:factory" entries the tests add to rossam_geo.engines.ENGINE_FACTORIES.
TEST_ENGINES = {
    "oracle": "tests.video.engines:OracleEngine",
    "half-blind": "tests.video.engines:HalfBlindOracleEngine",
    "slow-oracle": "tests.video.engines:SlowBoxEngine",
    "flaky-load": "tests.video.engines:FirstBuildFailsEngine",
}
