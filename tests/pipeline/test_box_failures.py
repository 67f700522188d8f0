"""A box that cannot be segmented fails alone, with a reason that says why: the cause of a failed read,
an engine whose output is not finite."""

from __future__ import annotations

import numpy as np

from rossam_geo.engines.base import EnginePrediction
from rossam_geo.errors import NonFiniteOutput
from rossam_geo.pipeline.run import ArraySource, iter_box_masks
from tests.pipeline.conftest import key_pixels
from tests.pipeline.oracle import OracleEngine

RECTS = [(10, 10, 30, 30), (60, 40, 90, 55)]
BOXES = np.array([[8.0, 8, 32, 32], [58, 38, 92, 57]])


def _image() -> np.ndarray:
    return np.ascontiguousarray(key_pixels(100, 120, RECTS).transpose(1, 2, 0))


class NaNForSecondBox(OracleEngine):
    """The oracle, with NaN logits for boxes wider than 55 model pixels (the second box)."""

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        prediction = super().predict(images_rgb_u8, boxes_px_xyxy)
        logits = np.array(prediction.mask_logits)
        boxes = np.asarray(boxes_px_xyxy)
        logits[boxes[:, 2] - boxes[:, 0] > 55] = np.nan
        return EnginePrediction(logits, prediction.scores)


class ReadFailsRightHalf:
    """Windows of the image; reads of its right half fail as rasterio does, GDAL's reason in the cause."""

    def __init__(self, image: np.ndarray) -> None:
        self.inner = ArraySource(image)
        self.width, self.height = self.inner.width, self.inner.height

    def read_window(
        self, col_off: int, row_off: int, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if col_off + width > self.width // 2 + 10:
            try:
                raise RuntimeError(
                    "TIFFReadEncodedStrip:Read error at scanline 40; got 10 bytes, expected 90"
                )
            except RuntimeError as exc:
                raise OSError("Read failed. See previous exception for details.") from exc
        return self.inner.read_window(col_off, row_off, width, height)


def test_non_finite_logits_fail_their_box_only_with_a_reason():
    outcomes = list(iter_box_masks(ArraySource(_image()), BOXES, NaNForSecondBox(), crop_size=48))
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert (
        outcomes[1].reason == str(NonFiniteOutput()) and "not finite (NaN or infinity)" in outcomes[1].reason
    )
    assert outcomes[0].mask is not None and outcomes[0].mask.any()


def test_a_failed_read_carries_the_libraries_reason():
    outcomes = list(iter_box_masks(ReadFailsRightHalf(_image()), BOXES, OracleEngine(), crop_size=48))
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert outcomes[1].reason == (
        "window could not be read: TIFFReadEncodedStrip:Read error at scanline 40; got 10 bytes, expected 90"
    )


class WindowEngine(OracleEngine):
    """An engine that resamples on its device; NaN scores and empty masks for boxes wider than 30 pixels."""

    takes_windows = True

    def predict_windows(self, windows: np.ndarray, boxes: np.ndarray, model_hw: tuple[int, int]) -> object:
        from types import SimpleNamespace

        masks = windows[..., 1] > 127
        scores = np.full(len(windows), 0.9, np.float32)
        bad = np.asarray(boxes)[:, 2] - np.asarray(boxes)[:, 0] > 30
        masks[bad] = False
        scores[bad] = np.nan
        return SimpleNamespace(masks=masks, scores=scores)


def test_an_empty_mask_with_a_non_finite_score_is_reported_as_such():
    outcomes = list(iter_box_masks(ArraySource(_image()), BOXES, WindowEngine(), crop_size=48))
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert outcomes[1].reason == str(NonFiniteOutput())
