"""Where a model runs: ``"auto"``, ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"mps"`` as a torch device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rossam_geo.errors import EngineError

if TYPE_CHECKING:
    import torch


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"mps"`` into an available torch device.

    ``"auto"`` picks CUDA, then Apple MPS, then the CPU.

    Raises:
        EngineError: the device is unknown or not available on this machine.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise EngineError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise EngineError(f"device {device!r} asked for, but MPS is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise EngineError(f"unsupported device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return dev
