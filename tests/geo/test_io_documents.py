"""JSON documents and .npy arrays: parsed, or refused with the file and what was expected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rossam_geo.errors import InputError, PromptError
from rossam_geo.io import read_json, read_npy


def test_read_json_parses_and_names_missing_or_broken_files(tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"images": [], "annotations": [1]}))
    assert read_json(good, "a COCO JSON file") == {"images": [], "annotations": [1]}
    with pytest.raises(InputError, match=r"file not found: .*absent\.json; check the path"):
        read_json(tmp_path / "absent.json", "a COCO JSON file")
    broken = tmp_path / "b.json"
    broken.write_text("{oops")
    with pytest.raises(PromptError, match=r"cannot read .*b\.json as JSON .*; give a prompt file"):
        read_json(broken, "a prompt file", PromptError)


def test_read_npy_loads_arrays_and_refuses_pickles(tmp_path):
    boxes = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.save(tmp_path / "boxes.npy", boxes)
    assert np.array_equal(read_npy(tmp_path / "boxes.npy", "boxes"), boxes)
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(PromptError, match=r"cannot read .*objects\.npy as a \.npy array .*; give boxes"):
        read_npy(tmp_path / "objects.npy", "boxes", PromptError)
    with pytest.raises(InputError, match=r"file not found: .*none\.npy"):
        read_npy(tmp_path / "none.npy", "boxes")
