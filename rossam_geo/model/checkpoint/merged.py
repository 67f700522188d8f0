"""Merged exports: one safetensors file with the whole network, LoRA folded into the qkv weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rossam_geo.errors import CheckpointError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint.metadata import (
    MERGED_FORMAT,
    AdapterMetadata,
    read_metadata,
    write_with_metadata,
)
from rossam_geo.model.checkpoint.state import load_checked, model_state, read_state_dict
from rossam_geo.model.lora import is_lora_parameter_name
from rossam_geo.model.rossam import RosSam
from rossam_geo.model.score_quality import ScoreCalibration


def export_merged(
    model: RosSam,
    path: str | Path,
    *,
    base_name: str = "",
    base_sha256: str = "",
    overwrite: bool = False,
    score_calibration: ScoreCalibration | None = None,
) -> Path:
    """Write the whole network, LoRA folded into the qkv weights, to one safetensors file.

    The file loads back with :func:`load_merged` into a network without LoRA layers. ``model`` is not
    changed. ``score_calibration`` is stored in the header (a calibration fitted for this network's
    IoU head; see :mod:`rossam_geo.model.score_quality`); none is written otherwise.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    keys = [k for k in model.state_dict() if not is_lora_parameter_name(k)]
    state = model_state(model, keys, lora_folded=True)
    meta = AdapterMetadata.for_model(model, MERGED_FORMAT, base_name, base_sha256)
    if score_calibration is not None:
        meta = dataclasses.replace(meta, score_calibration=score_calibration.to_json())
    return write_with_metadata(state, path, meta, overwrite)


def load_merged(path: str | Path) -> RosSam:
    """Load a file written by :func:`export_merged` into a new network (no LoRA layers), strictly.

    Raises:
        CheckpointError: not a merged export, or its tensors do not match its configuration.
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta.format != MERGED_FORMAT:
        raise CheckpointError(f"{path} is an adapter, not a merged export; load its base, then load_adapter")
    model = build_rossam(meta.config, lora_rank=0)
    load_checked(model, read_state_dict(path), set(), str(path))
    model.score_calibration = meta.calibration()
    return model
