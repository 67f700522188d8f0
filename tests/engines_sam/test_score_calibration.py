"""SAM-family engines report calibrated scores when their weights carry a calibration for their tta mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.model.build import build_rossam
from rossam_geo.model.rossam import RosSam
from rossam_geo.model.score_quality import FEATURE_NAMES, ScoreCalibration
from tests.model.conftest import boxes_for, perturb_, random_images_u8

#: weights on every feature but the head, so that a wrong feature shows in the score.
CALIBRATION = ScoreCalibration(
    weights={
        mode: {"stability": 0.3, "agreement": 0.2, "box_fill": 0.4, "outside_box": -0.5}
        for mode in ("none", "d8")
    },
    bias={"none": 0.05, "d8": 0.1},
)


def tiny_model(calibration: ScoreCalibration | None) -> RosSam:
    torch.manual_seed(11)
    model = perturb_(build_rossam("tiny", lora_rank=0), seed=12)
    model.score_calibration = calibration
    return model.eval()


def inputs(batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    size = build_rossam("tiny", lora_rank=0).image_size_px
    return random_images_u8(batch, size, seed=3).numpy(), boxes_for(batch, size).numpy().astype(np.float64)


@pytest.mark.parametrize("tta", ["none", "d8"])
def test_calibrated_scores_are_the_map_of_the_features(tta):
    engine = build_rossam_engine(model=tiny_model(CALIBRATION), device="cpu", tta=tta, batch_size=4)
    images, boxes = inputs()
    prediction, features = engine.predict_quality(images, boxes)
    assert features.shape == (3, len(FEATURE_NAMES))
    expected = CALIBRATION.apply(features, tta)
    assert engine.predict(images, boxes).scores == pytest.approx(expected, abs=1e-6)
    assert prediction.scores == pytest.approx(expected, abs=1e-6)
    if tta == "none":
        assert (features[:, FEATURE_NAMES.index("agreement")] == 1.0).all()


def test_the_head_feature_is_the_unclamped_iou_head_output():
    model = tiny_model(None)
    engine = build_rossam_engine(model=model, device="cpu", tta="none")
    images, boxes = inputs()
    _, features = engine.predict_quality(images, boxes)
    _, head = model.predict(torch.from_numpy(images), torch.from_numpy(boxes).float(), mode="hq")
    assert features[:, 0] == pytest.approx(head.numpy(), abs=1e-5)
    # Uncalibrated, the score is that output clamped to [0, 1].
    assert engine.predict(images, boxes).scores == pytest.approx(np.clip(head.numpy(), 0, 1), abs=1e-5)


def test_a_mode_the_calibration_lacks_reports_the_clamped_head():
    engine = build_rossam_engine(model=tiny_model(CALIBRATION), device="cpu", tta="flips")
    assert engine.score_calibration is None
    images, boxes = inputs()
    _, features = engine.predict_quality(images, boxes)
    assert engine.predict(images, boxes).scores == pytest.approx(np.clip(features[:, 0], 0, 1), abs=1e-6)


def test_device_resampling_reports_the_same_calibrated_scores():
    engine = build_rossam_engine(
        model=tiny_model(CALIBRATION), device="cpu", tta="none", device_resample=True, batch_size=2
    )
    images, boxes = inputs()
    side = images.shape[1]
    # Windows at the model's size: no resize, so both paths see the same pixels.
    windows = engine.predict_windows(images, boxes, (side, side))
    direct = engine.predict(images, boxes)
    assert windows.scores == pytest.approx(direct.scores, abs=1e-5)
    assert not np.allclose(direct.scores, direct.scores[0])  # the scores do depend on the masks
