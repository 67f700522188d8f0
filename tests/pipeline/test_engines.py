from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rossam_geo.engines import engine_names, get_engine, weight_free_engines, weighted_engines
from rossam_geo.engines.base import Engine
from rossam_geo.engines.box import box_logits
from rossam_geo.engines.grabcut import GrabCutEngine
from rossam_geo.errors import EngineError


def test_box_engine_marks_pixels_whose_centre_is_in_the_box():
    engine = get_engine("box", device="cuda", batch_size=3)
    assert isinstance(engine, Engine) and engine.input_size_px is None and engine.max_batch == 3
    images = np.zeros((2, 10, 12, 3), np.uint8)
    boxes = np.array([[2.0, 3.0, 5.0, 7.0], [0.4, 0.6, 1.6, 2.5]])
    prediction = engine.predict(images, boxes)
    assert prediction.mask_logits.shape == (2, 10, 12)
    np.testing.assert_array_equal(prediction.scores, [1.0, 1.0])
    first = prediction.mask_logits[0] > 0
    assert first.sum() == 3 * 4 and first[3:7, 2:5].all()
    second = np.argwhere(prediction.mask_logits[1] > 0)  # centres 0.5, 1.5 in x; 1.5 in y
    assert sorted(map(tuple, second)) == [(1, 0), (1, 1)]
    assert set(np.unique(box_logits(4, 4, np.array([1.0, 1.0, 3.0, 3.0])))) == {-1.0, 1.0}


def test_the_registry_names_the_weight_free_engines():
    assert weight_free_engines() == ("box", "grabcut")
    assert weighted_engines() == ("rossam", "sam", "hq-sam")
    assert set(weight_free_engines()) | set(weighted_engines()) == set(engine_names())


def test_the_box_engine_runs_without_importing_torch(tmp_path):
    """The weight-free engines, whole-raster plans included, never load torch or segment_anything."""
    code = (
        "import sys, numpy as np, rossam_geo\n"
        "image = np.zeros((40, 60, 3), np.uint8)\n"
        "for crop in (True, False):\n"
        "    r = rossam_geo.segment_array(image, np.array([[5.0, 5, 20, 20]]), engine='box', crop=crop)\n"
        "    assert r[0].status == 'ok'\n"
        "print(sorted(m for m in ('torch', 'segment_anything') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", weight_free_engines())
def test_weight_free_engines_reject_weights(name):
    with pytest.raises(EngineError, match=f"the '{name}' engine uses no weights but got weights='w.pth'"):
        get_engine(name, weights="w.pth")


def _disc_image(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.normal(60, 12, (96, 96, 3)).clip(0, 255).astype(np.uint8)
    rows, cols = np.mgrid[0:96, 0:96]
    disc = (rows - 50) ** 2 + (cols - 44) ** 2 < 18**2
    image[disc] = rng.normal((210, 180, 40), 10, (int(disc.sum()), 3)).clip(0, 255).astype(np.uint8)
    return image, disc


def test_grabcut_segments_a_contrasting_object_inside_its_box():
    image, disc = _disc_image()
    engine = GrabCutEngine()
    prediction = engine.predict(image[None], np.array([[22.0, 28.0, 67.0, 73.0]]))
    mask = prediction.mask_logits[0] > 0
    iou = (mask & disc).sum() / (mask | disc).sum()
    assert iou > 0.9
    box_iou = disc.sum() / (45 * 45)  # the box itself scores much lower
    assert iou > box_iou + 0.15
    assert prediction.notes == (None,)


def test_grabcut_is_deterministic():
    image, _ = _disc_image(3)
    engine = GrabCutEngine()
    boxes = np.array([[20.0, 25.0, 70.0, 75.0]])
    first = engine.predict(image[None], boxes).mask_logits
    second = engine.predict(image[None], boxes).mask_logits
    np.testing.assert_array_equal(first, second)


def test_grabcut_falls_back_to_the_box_with_a_note():
    image, _ = _disc_image()
    engine = GrabCutEngine()
    boxes = np.array([[10.0, 10.0, 12.0, 30.0], [0.0, 0.0, 96.0, 96.0]])
    prediction = engine.predict(np.stack([image, image]), boxes)
    np.testing.assert_array_equal(prediction.mask_logits[0], box_logits(96, 96, boxes[0]))
    assert prediction.notes[0] == "grabcut skipped: box is 2x20 px (< 3 px); used the box"
    assert prediction.notes[1] == "grabcut skipped: the box fills the window; used the box"
    assert (prediction.mask_logits[1] > 0).all()


@pytest.mark.parametrize("name", ["box", "grabcut"])
def test_weight_free_engine_scores_are_one_in_the_unit_range(name):
    # boxes that segment, fall back (too thin, filling the window) and lie partly outside the image
    image, _ = _disc_image(5)
    boxes = np.array(
        [
            [22.0, 28.0, 67.0, 73.0],
            [10.0, 10.0, 12.0, 30.0],
            [0.0, 0.0, 96.0, 96.0],
            [80.0, 80.0, 120.0, 99.0],
        ]
    )
    scores = get_engine(name).predict(np.stack([image] * 4), boxes).scores
    assert scores.dtype == np.float32 and scores.shape == (4,)
    assert ((scores >= 0.0) & (scores <= 1.0)).all()
    np.testing.assert_array_equal(scores, 1.0)


def test_grabcut_click_seed_follows_the_clicked_colour_within_its_radius():
    from rossam_geo.engines.grabcut import click_seed

    image = np.full((20, 30, 3), 100, np.uint8)
    image[5:15, 5:25] = (200, 40, 40)  # a red bar
    seed = click_seed(image, 10.5, 10.5, radius_px=8)
    assert seed[10, 5:18].all() and not seed[10, 19:].any()  # along the bar, up to 8 px away
    assert not seed[:5].any() and not seed[15:].any()  # not onto the grey around it
    assert not click_seed(image, 40.0, 10.0, radius_px=8).any()  # a click outside the image
