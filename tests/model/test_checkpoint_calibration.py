"""A score calibration travels in the header of adapters and merged exports."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rossam_geo.errors import CheckpointError, OutputExistsError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import (
    export_merged,
    load_adapter,
    load_merged,
    read_state_dict,
    save_adapter,
    write_score_calibration,
)
from rossam_geo.model.checkpoint.metadata import SCORE_CALIBRATION_KEY
from rossam_geo.model.checkpoint.state import read_safetensors_header, write_safetensors
from rossam_geo.model.rossam import RosSam
from rossam_geo.model.score_quality import ScoreCalibration

CALIBRATION = ScoreCalibration(
    weights={"d8": {"head": 0.5, "agreement": 0.75}, "none": {"head": 1.0}},
    bias={"d8": -0.25, "none": 0.0},
    source="a test fit",
)


def test_merged_export_keeps_tensors_and_header_and_gains_the_calibration(
    tmp_path: Path, trained_tiny: RosSam
):
    plain = export_merged(trained_tiny, tmp_path / "plain.safetensors")
    assert load_merged(plain).score_calibration is None
    calibrated = write_score_calibration(plain, tmp_path / "calibrated.safetensors", CALIBRATION)
    assert load_merged(calibrated).score_calibration == CALIBRATION
    before, after = read_state_dict(plain), read_state_dict(calibrated)
    assert set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in before)
    header = read_safetensors_header(calibrated)
    assert {k: v for k, v in header.items() if k != SCORE_CALIBRATION_KEY} == read_safetensors_header(plain)
    # None takes it out again; an existing output is kept unless overwriting.
    with pytest.raises(OutputExistsError):
        write_score_calibration(calibrated, calibrated, None)
    write_score_calibration(calibrated, calibrated, None, overwrite=True)
    assert load_merged(calibrated).score_calibration is None


def test_export_merged_writes_a_given_calibration(tmp_path: Path, trained_tiny: RosSam):
    path = export_merged(trained_tiny, tmp_path / "m.safetensors", score_calibration=CALIBRATION)
    assert load_merged(path).score_calibration == CALIBRATION


def test_an_adapter_brings_its_calibration_to_the_model(tmp_path: Path, trained_tiny: RosSam):
    adapter = save_adapter(trained_tiny, tmp_path / "a.safetensors", "base.pth", "0" * 64)
    calibrated = write_score_calibration(adapter, tmp_path / "ac.safetensors", CALIBRATION)
    model = build_rossam("tiny", lora_rank=4, lora_alpha=8.0)
    load_adapter(model, calibrated)
    assert model.score_calibration == CALIBRATION
    load_adapter(model, adapter)
    assert model.score_calibration is None


def test_a_damaged_calibration_is_a_checkpoint_error(tmp_path: Path, trained_tiny: RosSam):
    plain = export_merged(trained_tiny, tmp_path / "plain.safetensors")
    header = {**read_safetensors_header(plain), SCORE_CALIBRATION_KEY: '{"weights": 3}'}
    damaged = write_safetensors(read_state_dict(plain), tmp_path / "damaged.safetensors", header, False)
    with pytest.raises(CheckpointError, match="score calibration"):
        load_merged(damaged)


def test_only_our_files_take_a_calibration(tmp_path: Path):
    official = tmp_path / "official.safetensors"
    write_safetensors({"x": torch.zeros(2)}, official, {}, False)
    with pytest.raises(CheckpointError):
        write_score_calibration(official, tmp_path / "out.safetensors", CALIBRATION)
