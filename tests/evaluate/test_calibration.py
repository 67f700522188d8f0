"""Samples for fitting a score calibration: each prompt's quality features and its IoU (0 on background)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rossam_geo.api import Segmenter
from rossam_geo.engines.box import BoxEngine
from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.errors import InputError
from rossam_geo.evaluate import evaluate_dataset
from rossam_geo.evaluate.calibration import QualitySamples, collect_quality
from rossam_geo.model.build import build_rossam
from rossam_geo.model.score_quality import FEATURE_NAMES, ScoreCalibration
from tests.model.conftest import perturb_

CALIBRATION = ScoreCalibration(
    weights={"flips": {"head": 0.2, "stability": 0.3, "agreement": 0.3, "box_fill": 0.2}}, bias={"flips": 0.0}
)


@pytest.fixture
def calibrated_engine():
    torch.manual_seed(21)
    model = perturb_(build_rossam("tiny", lora_rank=0), seed=22).eval()
    model.score_calibration = CALIBRATION
    return build_rossam_engine(model=model, device="cpu", tta="flips")


def test_samples_carry_each_objects_features_to_its_iou(coco_dir, calibrated_engine):
    samples = collect_quality(coco_dir, calibrated_engine, background_per_object=1.0, seed=0)
    n_objects = int((~samples.background).sum())
    assert n_objects == 3  # the crowd region is left out
    assert samples.features.shape == (len(samples.target_iou), len(FEATURE_NAMES))
    assert (samples.target_iou[samples.background] == 0).all() and samples.background.sum() == 3
    # The same engine through a plain evaluation: its scores are the calibration of the sampled features,
    # object for object, and the IoUs are the sampled targets.
    plain = evaluate_dataset(
        coco_dir, ["rossam"], segmenter_factory=lambda *_: Segmenter(engine=calibrated_engine)
    ).report["engines"]["rossam"]["objects"]
    objects = ~samples.background
    assert [o["iou"] for o in plain] == pytest.approx(samples.target_iou[objects].tolist())
    expected = CALIBRATION.apply(samples.features[objects], "flips")
    assert [o["score"] for o in plain] == pytest.approx(expected.tolist(), abs=1e-6)


def test_concatenated_samples_keep_their_rows(coco_dir, calibrated_engine):
    one = collect_quality(coco_dir, calibrated_engine, background_per_object=0.0)
    both = QualitySamples.concatenate([one, one])
    assert len(both.target_iou) == 2 * len(one.target_iou) and not both.background.any()
    assert np.array_equal(both.features[: len(one.target_iou)], one.features)


def test_engines_without_quality_features_and_negative_counts_are_refused(coco_dir, calibrated_engine):
    with pytest.raises(InputError, match="SAM-family"):
        collect_quality(coco_dir, BoxEngine())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=">= 0"):
        collect_quality(coco_dir, calibrated_engine, background_per_object=-1)
