from __future__ import annotations

import json
import socket
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from rasterio.features import rasterize

from rossam_geo.cli import main as cli
from rossam_geo.engines import get_engine
from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.errors import WeightsError
from rossam_geo.model import compact
from rossam_geo.model.compact import (
    BUNDLED_CARD_FILE,
    COMPACT_CONFIG,
    COMPACT_MODEL_NAME,
    bundled_weights_path,
)

from .conftest import UTM_TRANSFORM


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty weights cache."""
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(cache))

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return cache


def test_bundled_weights_are_small_and_described():
    path = bundled_weights_path()
    assert path is not None, "rossam_geo/data/rossam-compact-v3.safetensors is missing"
    assert path.stat().st_size < 30 * 2**20
    card = json.loads((path.parent / BUNDLED_CARD_FILE).read_text(encoding="utf-8"))
    assert card["name"] == COMPACT_MODEL_NAME
    assert card["weights"] == path.name
    assert [stage["training_data"]["generator"] for stage in card["stages"]] == ["rossam_geo.synth"] * 2
    assert card["steps"] == sum(stage["steps"] for stage in card["stages"]) > 0


def test_rossam_engine_defaults_to_the_bundled_model_offline(offline):
    engine = get_engine("rossam", device="cpu")
    assert engine.model_name == COMPACT_MODEL_NAME
    assert engine.input_size_px == COMPACT_CONFIG.image_size_px
    assert engine.model.config == COMPACT_CONFIG
    assert list(offline.iterdir()) == []


def test_missing_bundle_explains(monkeypatch):
    monkeypatch.setattr(compact, "bundled_weights_path", lambda: None)
    with pytest.raises(WeightsError, match=r"needs trained ROS-SAM weights: none are published"):
        build_rossam_engine(device="cpu")
    with pytest.raises(WeightsError, match=r"rossam-compact-v3\.2 is missing from this installation"):
        compact.load_bundled()


@pytest.fixture
def one_thread():
    """One torch CPU thread: on a busy shared machine two threads spend most of their time waiting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_one_box_predicts_at_the_compact_input_size(one_thread):
    engine = build_rossam_engine(device="cpu")
    size = engine.input_size_px
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (1, size, size, 3), dtype=np.uint8)
    boxes = np.array([[30.0, 40.0, 90.0, 80.0]])
    pred = engine.predict(images, boxes)
    assert engine.model_name == "rossam-compact-v3.2"
    assert pred.mask_logits.shape == (1, size, size)
    assert np.isfinite(pred.mask_logits).all() and np.isfinite(pred.scores).all()


def test_the_bundled_model_reports_calibrated_scores_in_every_tta_mode(one_thread):
    """Its weights carry a score calibration for none, flips and d8, and the engine applies it."""
    from rossam_geo.model.score_quality import FEATURE_NAMES

    rng = np.random.default_rng(1)
    for tta in ("none", "flips", "d8"):
        engine = build_rossam_engine(device="cpu", tta=tta)
        calibration = engine.score_calibration
        assert calibration is not None and calibration.covers(tta)
        size = engine.input_size_px
        images = rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8)
        boxes = np.array([[30.0, 40.0, 90.0, 80.0], [10.0, 10.0, 50.0, 70.0]])
        prediction, features = engine.predict_quality(images, boxes)
        assert features.shape == (2, len(FEATURE_NAMES))
        assert prediction.scores == pytest.approx(calibration.apply(features, tta), abs=1e-6)
        assert engine.predict(images, boxes).scores == pytest.approx(prediction.scores, abs=1e-6)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_cli_segments_with_the_bundled_model_by_default(airfield, offline, tmp_path):
    out = tmp_path / "out.gpkg"
    result = CliRunner().invoke(
        cli, ["segment", str(airfield.raster), str(airfield.prompts), "-o", str(out), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    features = gpd.read_file(out)
    scene = airfield.scene
    assert len(features) == len(scene.classes)
    assert set(features["engine"]) == {"rossam"}
    assert set(features["model"]) == {COMPACT_MODEL_NAME}
    assert str(features.crs) == "EPSG:32633"
    shape = scene.image_rgb.shape[:2]
    model_ious, box_ious = [], []
    for row in features.itertuples():
        i = int(row.prompt_id)
        truth = scene.masks[i]
        predicted = rasterize([(row.geometry, 1)], out_shape=shape, transform=UTM_TRANSFORM).astype(bool)
        x0, y0, x1, y1 = scene.boxes_px_xyxy[i].astype(int)
        box_mask = np.zeros(shape, bool)
        box_mask[y0:y1, x0:x1] = True
        model_ious.append(_iou(predicted, truth))
        box_ious.append(_iou(box_mask, truth))
    # Airplanes fill a small part of their boxes: the model's masks must beat the boxes clearly.
    assert np.mean(model_ious) > np.mean(box_ious) + 0.15
    assert np.mean(model_ious) > 0.6


def test_the_bundled_model_scores_background_boxes_below_object_boxes_of_the_sample_scene(one_thread):
    """Its IoU head is trained: object boxes of examples/airfield.tif score higher than boxes over ground."""
    import rasterio

    from rossam_geo.api import Segmenter
    from rossam_geo.evaluate.background import boxes_occupancy, sample_background_boxes

    examples = Path(__file__).resolve().parents[2] / "examples"
    with rasterio.open(examples / "airfield.tif") as src:
        inverse, crs, height, width = ~src.transform, src.crs, src.height, src.width
    prompts = gpd.read_file(examples / "airfield_boxes.geojson").to_crs(crs)
    corners = [
        (inverse * (x0, y0), inverse * (x1, y1)) for x0, y0, x1, y1 in prompts.geometry.bounds.to_numpy()
    ]
    objects = np.array(
        [[min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])] for a, b in corners]
    )
    background = sample_background_boxes(
        boxes_occupancy(objects, height, width), objects[:, 2:] - objects[:, :2], 3 * len(objects),
        np.random.default_rng(0),
    )  # fmt: skip
    segmenter = Segmenter("rossam", device="cpu")
    object_scores = segmenter.segment(examples / "airfield.tif", objects, pixel=True)["score"].to_numpy()
    background_scores = segmenter.segment(examples / "airfield.tif", background, pixel=True)[
        "score"
    ].to_numpy()
    assert len(background_scores) >= 2 * len(object_scores)
    for scores in (object_scores, background_scores):
        assert ((scores >= 0) & (scores <= 1)).all()
    assert background_scores.mean() < object_scores.mean() - 0.2
