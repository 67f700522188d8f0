"""State dicts: reading torch / safetensors files, writing safetensors files, checked loading into a model."""

from __future__ import annotations

import warnings
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
            state = dict(load_file(str(path), device="cpu"))
        except Exception as exc:
            raise _unreadable_safetensors(path, exc) from None
        check_finite(state, str(path))
        return state
    try:
        with warnings.catch_warnings():
            # torch warns about the pickle protocol of a file it then refuses; the error below says it all
            warnings.simplefilter("ignore", UserWarning)
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
    state = dict(loaded)
    check_finite(state, str(path))
    return state


def check_finite(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinite values (a diverged training run, a damaged file).

    Raises:
        CheckpointError: one line naming ``source``, the first such tensor (file order) and how many.
    """
    bad = [
        key
        for key, tensor in state.items()
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        first = state[bad[0]]
        count = int((~torch.isfinite(first)).sum())
        others = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise CheckpointError(
            f"{source} holds NaN or infinite weights: tensor {bad[0]!r} has {count} of {first.numel()} "
            "values "
            f"non-finite{others}; the file is damaged or comes from a diverged training run, use another one"
        )


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
    check_shapes(model, state, source)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{source} does not load into the model: {first_line}") from None
    if set(result.missing_keys) - allowed_missing or result.unexpected_keys:
        raise CheckpointError(f"{source}: unexpected key mismatch {result}")


def check_shapes(model: nn.Module, state: Mapping[str, torch.Tensor], source: str, shown: int = 3) -> None:
    """Refuse tensors whose shape differs from the model's, in one line: the count and the first ``shown``.

    Raises:
        CheckpointError: e.g. "x.safetensors has 347 tensors of the wrong shape for the model (vit_b), first:
            image_encoder.pos_embed (1, 64, 64, 1024) where the model has (1, 64, 64, 768), ...".
    """
    model_state_dict = model.state_dict()
    wrong = [
        (key, tuple(tensor.shape), tuple(model_state_dict[key].shape))
        for key, tensor in state.items()
        if key in model_state_dict and tuple(tensor.shape) != tuple(model_state_dict[key].shape)
    ]
    if not wrong:
        return
    config = getattr(model, "config", None)
    name = f" ({config.name})" if config is not None and hasattr(config, "name") else ""
    listed = "; ".join(
        f"{key} {found} where the model has {expected}" for key, found, expected in wrong[:shown]
    )
    more = f"; +{len(wrong) - shown} more" if len(wrong) > shown else ""
    raise CheckpointError(
        f"{source} has {len(wrong)} tensor(s) of the wrong shape for the model{name}: {listed}{more}; it was "
        "made for another architecture, so give weights of this one"
    )
