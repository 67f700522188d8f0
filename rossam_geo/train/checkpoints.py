"""The trainable state of a training run: copies, restores, adapter files, and the hash of a random base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rossam_geo.errors import InputError
from rossam_geo.io.atomic import atomic_path, write_text_atomic

if TYPE_CHECKING:
    import torch

    from rossam_geo.model.rossam import RosSam

__all__ = [
    "atomic_copy",
    "base_state_sha256",
    "load_trainable_state",
    "save_adapter_file",
    "trainable_state",
    "write_json_atomic",
]


def trainable_state(model: RosSam) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone()
        for group in model.named_parameter_groups().values()
        for name, p in group.items()
    }


def load_trainable_state(model: RosSam, state: dict[str, torch.Tensor]) -> None:
    import torch

    params = {name: p for group in model.named_parameter_groups().values() for name, p in group.items()}
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    if missing or unexpected:
        raise InputError(
            f"resume state does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "resume with the same model and LoRA options, or pass --overwrite to start over"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name])


def atomic_copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def save_adapter_file(model: RosSam, path: Path, base_name: str, base_sha: str) -> None:
    from rossam_geo.model.checkpoint import save_adapter

    save_adapter(model, path, base_name, base_sha, overwrite=True)


def base_state_sha256(model: RosSam) -> str:
    """SHA-256 of the frozen (non-trainable) tensors of ``model``, serialised with safetensors in key order.

    Identifies a randomly initialised base network (``tiny`` test runs) the way a file hash identifies an
    official checkpoint.
    """
    import hashlib

    from safetensors.torch import save

    trainable = {id(p) for p in model.trainable_parameters()}
    frozen = {
        name: p.detach().contiguous().cpu() for name, p in model.named_parameters() if id(p) not in trainable
    }
    return hashlib.sha256(save(dict(sorted(frozen.items())))).hexdigest()


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=True))
