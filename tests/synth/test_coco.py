from __future__ import annotations

import json

import numpy as np
import pytest

from rossam_geo.errors import OutputExistsError
from rossam_geo.synth import generate_scene, write_coco_dataset
from rossam_geo.train.data import CocoInstances


def test_dataset_reads_back_through_the_training_reader(tiny_dataset):
    content = json.loads(tiny_dataset.read_text())
    assert content["images"] and content["annotations"]
    names = {c["name"] for c in content["categories"]}
    assert names == {"airplane", "ship", "car", "truck", "train"}
    dataset = CocoInstances(tiny_dataset)
    assert len(dataset) == len(content["images"])
    for k in range(len(dataset)):
        sample = dataset[k]
        index = int(sample["image_id"].rsplit("_", 1)[1].split(".")[0])
        scene = generate_scene((3, index), size_px=64)
        assert np.array_equal(sample["image"], scene.image_rgb)
        assert np.array_equal(sample["masks"], scene.masks)
        assert sample["classes"] == scene.classes


def test_refuses_to_overwrite(tiny_dataset):
    with pytest.raises(OutputExistsError, match=r"annotations.json already exists; pass overwrite=True"):
        write_coco_dataset(tiny_dataset.parent, 1, seed=3, size_px=64)
