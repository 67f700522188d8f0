"""Inference speed options of the SAM-family networks: precision, attention kernel, compilation, batch size.

* ``precision``: ``"bf16"`` runs under ``torch.autocast`` in bfloat16 (matmuls and convolutions in bf16,
  normalisations and softmax in fp32); ``"fp32"`` runs in float32; ``"auto"`` is bf16 on CUDA, fp32 elsewhere.
* ``attention``: ``"sdpa"`` (:mod:`rossam_geo.model.attention`) or ``"reference"`` (segment_anything's);
  ``"auto"`` is sdpa on CUDA, reference elsewhere.
* ``compile``: ``torch.compile`` of the image encoder (in place: state-dict keys do not change).
* batch size: on CUDA, as many crops per encoder pass as fit in the free device memory, from a per-crop
  memory cost measured once per network, precision and attention (:func:`measure_crop_memory`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from rossam_geo.errors import InputError
from rossam_geo.model.attention import ATTENTION_KINDS, set_attention

if TYPE_CHECKING:
    from rossam_geo.model.rossam import RosSam

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
#: fraction of the free device memory that automatic batching plans to use.
MEMORY_FRACTION = 0.8
#: largest automatic batch.
MAX_AUTO_BATCH = 64


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16"]:
    """``"auto"`` -> ``"bf16"`` on CUDA, ``"fp32"`` elsewhere; other values as given.

    Raises:
        InputError: unknown precision.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return "bf16" if precision == "bf16" else "fp32"


def resolve_attention(attention: str, device: torch.device) -> str:
    """``"auto"`` -> ``"sdpa"`` on CUDA, ``"reference"`` elsewhere; other values as given.

    Raises:
        InputError: unknown attention.
    """
    if attention == "auto":
        return "sdpa" if device.type == "cuda" else "reference"
    if attention not in ATTENTION_KINDS:
        choices = ", ".join(("auto", *ATTENTION_KINDS))
        raise InputError(f"unknown attention {attention!r}; choose one of: {choices}")
    return attention


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on ``device`` for ``precision == "bf16"``, else a no-op context."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def configure_for_inference(model: RosSam, *, attention: str, compile_encoder: bool) -> None:
    """Set the attention kernel of ``model``'s encoder and optionally compile the encoder, in place.

    Args:
        model: the network (already on its device).
        attention: ``"sdpa"`` or ``"reference"``.
        compile_encoder: wrap the image encoder's forward with ``torch.compile`` (the first forward of each
            input shape compiles: tens of seconds to minutes).
    """
    set_attention(model.image_encoder, attention)
    if compile_encoder:
        model.image_encoder.compile(dynamic=False)


@dataclass(frozen=True)
class CropMemory:
    """Device memory of one predict call as a function of its batch: ``fixed + per_crop * batch`` bytes."""

    fixed_bytes: int
    per_crop_bytes: int


_MEASURED: dict[tuple[object, ...], CropMemory] = {}


def measure_crop_memory(model: RosSam, mode: str, precision: str) -> CropMemory:
    """Peak extra CUDA memory of ``model.predict`` at batch 1 and 2, measured once per setting and cached.

    Args:
        model: the network on a CUDA device, in eval mode.
        mode: predict mode (``"hq"``, ``"sam"``, ``"sam+hq"``).
        precision: ``"fp32"`` or ``"bf16"``.

    Raises:
        InputError: the model is not on a CUDA device.
    """
    device = model.device
    if device.type != "cuda":
        raise InputError(f"crop memory is measured on CUDA devices only; the model is on {device}")
    from rossam_geo.model.attention import attention_kind

    key = (model.config, mode, precision, attention_kind(model.image_encoder), device.index)
    if key in _MEASURED:
        return _MEASURED[key]
    size = model.image_size_px
    peaks = []
    for batch in (1, 2):
        images = torch.zeros((batch, size, size, 3), dtype=torch.uint8, device=device)
        boxes = torch.tensor([[size / 4, size / 4, 3 * size / 4, 3 * size / 4]] * batch, device=device)
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with autocast_context(device, precision):
            model.predict(images, boxes, mode=mode)  # type: ignore[arg-type]
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    per_crop = max(peaks[1] - peaks[0], 1)
    result = CropMemory(fixed_bytes=max(peaks[0] - per_crop, 0), per_crop_bytes=per_crop)
    _MEASURED[key] = result
    return result


def batch_size_for_memory(
    free_bytes: int,
    memory: CropMemory,
    *,
    fraction: float = MEMORY_FRACTION,
    max_batch: int = MAX_AUTO_BATCH,
) -> int:
    """The largest batch whose predicted peak fits in ``fraction`` of ``free_bytes`` (1 to ``max_batch``)."""
    budget = free_bytes * fraction - memory.fixed_bytes
    return int(min(max(budget // memory.per_crop_bytes, 1), max_batch))


def auto_batch_size(model: RosSam, mode: str, precision: str) -> int:
    """Crops per encoder pass for ``model`` on its device: from free memory on CUDA, 1 elsewhere."""
    device = model.device
    if device.type != "cuda":
        return 1
    memory = measure_crop_memory(model, mode, precision)
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return batch_size_for_memory(free_bytes, memory)
