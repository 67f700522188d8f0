"""Fused attention for SAM's ViT blocks: scaled-dot-product attention, relative-position bias as a mask.

``segment_anything``'s ``Attention`` materialises the (B * heads, N, N) attention matrix in the input dtype,
adds the decomposed relative-position terms, then takes a softmax and a second matmul. :class:`SdpaAttention`
computes the same function with ``torch.nn.functional.scaled_dot_product_attention``: the decomposed terms
``rel_h`` (B, heads, H, W, H) and ``rel_w`` (B, heads, H, W, W) are broadcast into one additive mask
(B, heads, N, N) with N = H * W, which lets PyTorch pick a fused kernel (memory-efficient attention on CUDA,
the flash-style CPU kernel) instead of three separate passes.

The swap changes the attention modules' class only: parameters, buffers and state-dict keys stay exactly
SAM's, so official checkpoints and adapters load strictly either way, and :func:`use_reference_attention`
restores the original computation.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos
from torch import nn

from rossam_geo.errors import InputError

AttentionKind = Literal["reference", "sdpa"]
ATTENTION_KINDS: tuple[str, ...] = ("reference", "sdpa")


@functools.lru_cache(maxsize=64)
def _relative_index(q_size: int, k_size: int, device: torch.device) -> torch.Tensor:
    """(q_size, k_size) int64 rows of the relative-position table, on ``device`` (built once per size).

    The same coordinates as ``segment_anything``'s ``get_rel_pos``, which builds them on the CPU at every
    call, so that indexing a CUDA table copies them to the device and waits for it once per block. Built
    outside inference mode even when first asked for under it: the cached tensor also serves training.
    """
    with torch.inference_mode(False):
        q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
        k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
        relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
        return relative_coords.long().to(device)


def rel_pos_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """``get_rel_pos(q_size, k_size, rel_pos)`` without a host-device copy: (q_size, k_size, C).

    Tables whose length does not match the sizes (a different input size than trained) take SAM's own
    interpolating path.
    """
    if rel_pos.shape[0] != 2 * max(q_size, k_size) - 1:
        return get_rel_pos(q_size, k_size, rel_pos)
    return rel_pos[_relative_index(q_size, k_size, rel_pos.device)]


def decomposed_rel_pos_bias(
    q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, size_hw: tuple[int, int]
) -> torch.Tensor:
    """SAM's decomposed relative-position term as an additive attention bias.

    Args:
        q: (B, heads, N, C) unscaled queries, N = H * W tokens in row-major order.
        rel_pos_h: (2 * H - 1, C) relative-position embeddings along rows.
        rel_pos_w: (2 * W - 1, C) relative-position embeddings along columns.
        size_hw: (H, W), the token grid of queries and keys.

    Returns:
        (B, heads, N, N) bias in ``q``'s dtype: ``bias[b, n, (qh, qw), (kh, kw)] = q . Rh[qh, kh] +
        q . Rw[qw, kw]``.
    """
    height, width = size_hw
    batch, heads, _, channels = q.shape
    rel_h_table = rel_pos_table(height, height, rel_pos_h).to(q.dtype)  # (H, H, C)
    rel_w_table = rel_pos_table(width, width, rel_pos_w).to(q.dtype)  # (W, W, C)
    q_grid = q.reshape(batch, heads, height, width, channels)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", q_grid, rel_h_table)  # (B, heads, H, W, kH)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", q_grid, rel_w_table)  # (B, heads, H, W, kW)
    bias = rel_h[..., :, None] + rel_w[..., None, :]  # (B, heads, H, W, kH, kW)
    return bias.reshape(batch, heads, height * width, height * width)


class SdpaAttention(Attention):
    """SAM's ``Attention`` computed with ``F.scaled_dot_product_attention`` (same parameters, same outputs).

    Do not build it directly: convert existing modules with :func:`use_sdpa_attention`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over a (B, H, W, dim) token grid; returns (B, H, W, dim)."""
        batch, height, width, _ = x.shape
        tokens = height * width
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, C)
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, (height, width))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        out = out.transpose(1, 2).reshape(batch, height, width, -1)
        return self.proj(out)


def _attention_modules(encoder: nn.Module) -> list[Attention]:
    return [m for m in encoder.modules() if isinstance(m, Attention)]


def use_sdpa_attention(encoder: nn.Module) -> int:
    """Switch every SAM ``Attention`` inside ``encoder`` to :class:`SdpaAttention`, in place.

    Returns:
        The number of attention modules now using SDPA.
    """
    modules = _attention_modules(encoder)
    for module in modules:
        module.__class__ = SdpaAttention
    return len(modules)


def use_reference_attention(encoder: nn.Module) -> int:
    """Switch every attention module inside ``encoder`` back to ``segment_anything``'s ``Attention``.

    Returns:
        The number of attention modules switched back.
    """
    modules = [m for m in _attention_modules(encoder) if isinstance(m, SdpaAttention)]
    for module in modules:
        module.__class__ = Attention
    return len(modules)


def set_attention(encoder: nn.Module, kind: str) -> None:
    """Use ``"sdpa"`` or ``"reference"`` attention in every block of ``encoder``.

    Raises:
        InputError: unknown kind.
    """
    if kind == "sdpa":
        use_sdpa_attention(encoder)
    elif kind == "reference":
        use_reference_attention(encoder)
    else:
        raise InputError(f"unknown attention {kind!r}; choose one of: {', '.join(ATTENTION_KINDS)}")


def attention_kind(encoder: nn.Module) -> str:
    """``"sdpa"`` when every attention module of ``encoder`` uses SDPA, ``"reference"`` when none does,
    ``"mixed"`` otherwise."""
    modules = _attention_modules(encoder)
    fused = sum(isinstance(m, SdpaAttention) for m in modules)
    if fused == 0:
        return "reference"
    return "sdpa" if fused == len(modules) else "mixed"
