"""State dicts: reading torch / safetensors files, writing safetensors files, checked loading into a model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from rossam_geo.errors import CheckpointError, OutputExistsError
from rossam_geo.io.atomic import atomic_path
from rossam_geo.model.checkpoint.keys import format_keys
from rossam_geo.model.lora import LoRAQKVLinear

StateDict = dict[str, torch.Tensor]


def _unreadable_safetensors(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(f"{path} is not a readable safetensors file: {exc}")


def read_state_dict(path: str | Path) -> StateDict:
    """Read a checkpoint file into a flat ``{key: tensor}`` dict on the CPU.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(path, map_location="cpu", weights_only=True)``. A ``{"model": ...}`` or
    ``{"state_dict": ...}`` wrapper is unwrapped.

    Raises:
        CheckpointError: missing file, unreadable file, or not a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:
            raise _unreadable_safetensors(path, exc) from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint that loads with weights_only=True ({type(exc).__name__}); "
            "give an official SAM / HQ-SAM .pth file or a rossam-geo .safetensors file"
        ) from None
    if isinstance(loaded, Mapping):
        for wrapper in ("model", "state_dict"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


def read_safetensors_header(path: Path) -> dict[str, str]:
    """The string-to-string metadata of a safetensors file (empty when it has none).

    Raises:
        CheckpointError: not a readable safetensors file.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise _unreadable_safetensors(path, exc) from None


def write_safetensors(
    state: Mapping[str, torch.Tensor], path: Path, header: dict[str, str], overwrite: bool
) -> Path:
    """Write ``state`` with metadata ``header`` to the safetensors file ``path``, atomically.

    Returns:
        ``path``.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from safetensors.torch import save_file

    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=header)
    return path


def model_state(model: nn.Module, keys: Iterable[str], *, lora_folded: bool) -> StateDict:
    """The model's tensors for ``keys``, detached, on the CPU, contiguous, in the order of ``keys``.

    The qkv weight of each LoRA layer is given with the LoRA update folded in (``lora_folded=True``) or
    taken out (``False``), whether or not the layer is currently merged; the model is not changed.
    """
    full = model.state_dict()
    lora_by_weight_key = {
        f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, LoRAQKVLinear)
    }
    state: StateDict = {}
    for key in keys:
        value = full[key].detach()
        layer = lora_by_weight_key.get(key)
        if layer is not None and layer.merged != lora_folded:
            delta = layer.lora_delta_weight().detach().to(value.dtype)
            value = value + delta if lora_folded else value - delta
        state[key] = value.cpu().contiguous()
    return state


def load_checked(
    model: nn.Module, state: Mapping[str, torch.Tensor], allowed_missing: set[str], source: str
) -> None:
    """Load ``state``; each model key must be in ``state`` or ``allowed_missing``, and no other key.

    Raises:
        CheckpointError: missing or unexpected keys (listed, ``source`` named), or tensors of the wrong shape.
    """
    model_keys = set(model.state_dict())
    unexpected = set(state) - model_keys
    missing = model_keys - set(state) - allowed_missing
    if unexpected or missing:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys: {format_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys: {format_keys(unexpected)}")
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(parts))
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{source} has tensors of the wrong shape for the model: {exc}") from None
    if set(result.missing_keys) - allowed_missing or result.unexpected_keys:
        raise CheckpointError(f"{source}: unexpected key mismatch {result}")
