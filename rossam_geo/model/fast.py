"""Inference speed options of the SAM-family networks: precision, attention kernel, compilation, batch size.

* ``precision``: ``"bf16-mixed"`` (alias ``"bf16"``) runs under ``torch.autocast`` in bfloat16 (matmuls and
  convolutions in bf16; normalisations, softmax and the residual stream in fp32); ``"bf16-true"`` converts
  the image encoder's weights to bfloat16 and runs it outside autocast, so that its residual stream, layer
  norms and activations stay in bf16 (the decoders run under autocast); ``"fp32"`` runs in float32;
  ``"auto"`` is :data:`CUDA_PRECISION` on CUDA, fp32 elsewhere.
* ``attention``: ``"reference"`` (segment_anything's), ``"sdpa"`` or ``"folded"``
  (:mod:`rossam_geo.model.attention`); ``"auto"`` is :data:`CUDA_ATTENTION` on CUDA, reference elsewhere.
* ``compile``: ``torch.compile`` of each image-encoder block (:func:`compiled_blocks`: compiled callables
  beside the blocks, sharing their parameters; the network and its state-dict keys do not change). Blocks
  share their code, so a whole encoder compiles two graphs (windowed and global blocks) per batch shape.
* batch size: on CUDA, as many crops per encoder pass as fit in the free device memory and in
  :data:`MAX_AUTO_BATCH_BYTES`, from a per-crop memory cost measured once per network, precision and
  attention (:func:`measure_crop_memory`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from rossam_geo.errors import InputError
from rossam_geo.model.attention import ATTENTION_KINDS, set_attention

if TYPE_CHECKING:
    from rossam_geo.model.rossam import RosSam

Precision = Literal["auto", "fp32", "bf16", "bf16-mixed", "bf16-true"]
ResolvedPrecision = Literal["fp32", "bf16-mixed", "bf16-true"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "bf16-mixed", "bf16-true")
#: ``precision="auto"`` on CUDA: bf16 autocast, measured 4.7x the reference loop on an H200 (vit_l, engine
#: only). ``"bf16-true"`` is an option until its speed and agreement are measured on a GPU.
CUDA_PRECISION: ResolvedPrecision = "bf16-mixed"
#: ``attention="auto"`` on CUDA: folding the bias measured 2.2x faster than the materialised mask in the
#: global blocks of vit_l on an H200, at a third of the memory (docs/performance.md).
CUDA_ATTENTION = "folded"
#: fraction of the free device memory that automatic batching plans to use.
MEMORY_FRACTION = 0.8
#: largest automatic batch.
MAX_AUTO_BATCH = 64
#: largest predicted peak memory of one automatic batch (bytes): past a few dozen crops a batch gains
#: little speed, and the rest of the device stays free for other work.
MAX_AUTO_BATCH_BYTES = 32 * 1024**3


def resolve_precision(precision: str, device: torch.device) -> ResolvedPrecision:
    """``"auto"`` -> :data:`CUDA_PRECISION` on CUDA, ``"fp32"`` elsewhere; ``"bf16"`` -> ``"bf16-mixed"``.

    Raises:
        InputError: unknown precision.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return CUDA_PRECISION if device.type == "cuda" else "fp32"
    if precision in ("bf16", "bf16-mixed"):
        return "bf16-mixed"
    return "bf16-true" if precision == "bf16-true" else "fp32"


def resolve_attention(attention: str, device: torch.device) -> str:
    """``"auto"`` -> :data:`CUDA_ATTENTION` on CUDA, ``"reference"`` elsewhere; other values as given.

    Raises:
        InputError: unknown attention.
    """
    if attention == "auto":
        return CUDA_ATTENTION if device.type == "cuda" else "reference"
    if attention not in ATTENTION_KINDS:
        choices = ", ".join(("auto", *ATTENTION_KINDS))
        raise InputError(f"unknown attention {attention!r}; choose one of: {choices}")
    return attention


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on ``device`` for the bf16 precisions, else a no-op context.

    With ``"bf16-true"`` the decoders run under it; the bf16 encoder turns it off (``RosSam.encode``).
    """
    if precision in ("bf16", "bf16-mixed", "bf16-true"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def configure_for_inference(model: RosSam, *, attention: str, precision: str = "fp32") -> None:
    """Set the attention kernel and the weight precision of ``model``'s encoder, in place.

    Args:
        model: the network (already on its device, LoRA merged).
        attention: ``"reference"``, ``"sdpa"`` or ``"folded"``.
        precision: ``"bf16-true"`` converts the image encoder's parameters to bfloat16; other precisions
            leave them in float32.
    """
    set_attention(model.image_encoder, attention)
    if precision == "bf16-true":
        model.image_encoder.to(torch.bfloat16)


def compiled_blocks(model: RosSam) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """``torch.compile`` versions of ``model``'s encoder blocks, to pass to ``RosSam.predict(runners=...)``.

    They share the blocks' parameters; the network itself stays uncompiled, so passes that do not use them
    run eagerly. The first pass of each batch shape compiles (two graphs: windowed and global blocks).
    """
    return [torch.compile(block, dynamic=False) for block in model.image_encoder.blocks]


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
        precision: a resolved precision (``"fp32"``, ``"bf16-mixed"``, ``"bf16-true"``).

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
    max_bytes: int = MAX_AUTO_BATCH_BYTES,
) -> int:
    """The largest batch whose predicted peak fits in ``fraction`` of ``free_bytes`` and in ``max_bytes``
    (1 to ``max_batch``)."""
    budget = min(free_bytes * fraction, max_bytes) - memory.fixed_bytes
    return int(min(max(budget // memory.per_crop_bytes, 1), max_batch))


def auto_batch_size(model: RosSam, mode: str, precision: str) -> int:
    """Crops per encoder pass for ``model`` on its device: from free memory on CUDA, 1 elsewhere."""
    device = model.device
    if device.type != "cuda":
        return 1
    memory = measure_crop_memory(model, mode, precision)
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return batch_size_for_memory(free_bytes, memory)
