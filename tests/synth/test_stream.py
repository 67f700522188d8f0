from __future__ import annotations

import itertools

import numpy as np

from rossam_geo.synth.stream import SceneCropStream, StreamSettings, collate_crops

SMALL = StreamSettings(seed=4, scene_size_px=96, crops_per_scene=3, shuffle_buffer=6)


def test_crops_have_the_model_input_layout():
    items = list(itertools.islice(iter(SceneCropStream(SMALL)), 6))
    for item in items:
        assert item["image"].shape == (128, 128, 3) and item["image"].dtype == np.uint8
        n = len(item["classes"])
        assert n >= 1 and item["masks"].shape == (n, 128, 128) and item["masks"].dtype == bool
        assert item["masks"].reshape(n, -1).any(axis=1).all()
        boxes = item["prompt_boxes"]
        assert boxes.shape == (n, 4) and boxes.dtype == np.float32 and (boxes[:, 2:] > boxes[:, :2]).all()
        assert (boxes >= 0).all() and (boxes <= 128).all()
    batch = collate_crops(items)
    counts = [len(item["classes"]) for item in items]
    assert batch["images"].shape == (6, 128, 128, 3)
    assert batch["masks"].shape == (sum(counts), 128, 128) and batch["prompt_boxes"].shape == (sum(counts), 4)
    assert batch["image_index"].tolist() == [i for i, n in enumerate(counts) for _ in range(n)]


def test_each_worker_stream_is_reproducible_and_workers_differ():
    stream = SceneCropStream(SMALL)
    a, b = stream.scene_crops(0, 2), stream.scene_crops(0, 2)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x["image"], y["image"]) and np.array_equal(x["masks"], y["masks"])
    other = stream.scene_crops(1, 2)
    assert not any(np.array_equal(a[0]["image"], o["image"]) for o in other)


def test_other_seeds_give_other_scenes():
    first = next(iter(SceneCropStream(SMALL)))["image"]
    other = next(iter(SceneCropStream(StreamSettings(seed=5, scene_size_px=96, shuffle_buffer=6))))["image"]
    assert not np.array_equal(first, other)


def test_background_prompts_have_empty_targets_clear_of_every_object():
    stream = SceneCropStream(StreamSettings(seed=5, crops_per_scene=3, background_boxes=1))
    crops = [c for i in range(3) for c in stream.scene_crops(0, i)]
    assert crops
    for crop in crops:
        background = [i for i, name in enumerate(crop["classes"]) if name == "background"]
        objects = [i for i, name in enumerate(crop["classes"]) if name != "background"]
        assert len(background) <= 1 and objects
        for i in background:
            assert not crop["masks"][i].any()
            x0, y0, x1, y1 = crop["prompt_boxes"][i].round().astype(int)
            assert x1 > x0 and y1 > y0
            assert not crop["masks"][objects].any(axis=0)[y0:y1, x0:x1].any()  # over no object
    assert any(name == "background" for crop in crops for name in crop["classes"])
