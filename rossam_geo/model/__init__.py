"""The ROS-SAM network (SAM + LoRA + HQ decoder), its configurations and checkpoint files.

Names are imported on first use so that ``import rossam_geo.model`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.checkpoint import (
        AdapterMetadata,
        export_merged,
        import_reference_checkpoint,
        load_adapter,
        load_merged,
        load_official,
        save_adapter,
    )
    from rossam_geo.model.config import CONFIGS, RosSamConfig, get_config
    from rossam_geo.model.rossam import RosSam

_LAZY = {
    "CONFIGS": "rossam_geo.model.config",
    "RosSamConfig": "rossam_geo.model.config",
    "build_rossam": "rossam_geo.model.build",
    "get_config": "rossam_geo.model.config",
    "RosSam": "rossam_geo.model.rossam",
    "AdapterMetadata": "rossam_geo.model.checkpoint",
    "export_merged": "rossam_geo.model.checkpoint",
    "import_reference_checkpoint": "rossam_geo.model.checkpoint",
    "load_adapter": "rossam_geo.model.checkpoint",
    "load_merged": "rossam_geo.model.checkpoint",
    "load_official": "rossam_geo.model.checkpoint",
    "save_adapter": "rossam_geo.model.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rossam_geo.model' has no attribute {name!r}")


__all__ = [
    "CONFIGS",
    "AdapterMetadata",
    "RosSam",
    "RosSamConfig",
    "build_rossam",
    "export_merged",
    "get_config",
    "import_reference_checkpoint",
    "load_adapter",
    "load_merged",
    "load_official",
    "save_adapter",
]
