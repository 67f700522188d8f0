"""Checkpoint files: official SAM / HQ-SAM weights, our adapter file, merged exports, reference-code folders.

* Official files (``sam_vit_{b,l,h}_*.pth``: 314 / 482 / 594 keys; ``sam_hq_vit_{b,l,h}.pth``: 339 / 507 /
  619 keys) are plain state dicts read with ``torch.load(..., map_location="cpu", weights_only=True)`` and
  loaded strictly: the only model keys they do not fill are the LoRA factors (and the HQ decoder, for a SAM
  file). An HQ-SAM file fills SAM's decoder with its SAM part and the HQ decoder with all of it
  (:mod:`.official`).
* An adapter is ONE safetensors file holding the trained parts (LoRA, last encoder block, SAM decoder, HQ
  decoder) with a metadata header naming the base file (name and SHA-256), the architecture and LoRA sizes.
  A trained model = official base file + adapter (:mod:`.adapter`; the header is in :mod:`.metadata`).
* A merged export is one safetensors file with the whole network, LoRA folded into the weights
  (:mod:`.merged`).
* A ROS-SAM reference-code folder (accelerate ``save_state``) can be imported (:mod:`.reference`).

Reading, writing and checked loading of state dicts are in :mod:`.state`; key names in :mod:`.keys`.
"""

from __future__ import annotations

from rossam_geo.model.checkpoint.adapter import adapter_keys, load_adapter, save_adapter
from rossam_geo.model.checkpoint.merged import export_merged, load_merged
from rossam_geo.model.checkpoint.metadata import (
    ADAPTER_FORMAT,
    FORMAT_VERSION,
    MERGED_FORMAT,
    AdapterMetadata,
    FileFormat,
    file_format,
    read_metadata,
    write_score_calibration,
)
from rossam_geo.model.checkpoint.official import (
    CheckpointInfo,
    Family,
    inspect_state_dict,
    load_official,
    official_keys,
)
from rossam_geo.model.checkpoint.reference import import_reference_checkpoint
from rossam_geo.model.checkpoint.state import StateDict, read_state_dict

__all__ = [
    "ADAPTER_FORMAT",
    "FORMAT_VERSION",
    "MERGED_FORMAT",
    "AdapterMetadata",
    "CheckpointInfo",
    "Family",
    "FileFormat",
    "StateDict",
    "adapter_keys",
    "export_merged",
    "file_format",
    "import_reference_checkpoint",
    "inspect_state_dict",
    "load_adapter",
    "load_merged",
    "load_official",
    "official_keys",
    "read_metadata",
    "read_state_dict",
    "save_adapter",
    "write_score_calibration",
]
