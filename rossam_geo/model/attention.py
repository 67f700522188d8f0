"""Fused attention for SAM's ViT blocks: scaled-dot-product attention with the relative-position terms.

``segment_anything``'s ``Attention`` materialises the (B * heads, N, N) attention matrix in the input dtype,
adds the decomposed relative-position terms, then takes a softmax and a second matmul. Two kernels compute
the same function with ``torch.nn.functional.scaled_dot_product_attention``:

* ``"sdpa"`` (:class:`SdpaAttention`): the decomposed terms ``rel_h`` (B, heads, H, W, H) and ``rel_w``
  (B, heads, H, W, W) are broadcast into one additive mask (B, heads, N, N) with N = H * W. A mask rules out
  the flash kernels, and in the global blocks of a 1024 px input (N = 4096) the mask alone is 32 MiB per head
  and image in bf16.
* ``"folded"`` (:class:`FoldedAttention`): in blocks of at least :data:`FOLD_MIN_TOKENS` tokens (the global
  blocks) the bias is never materialised. It is folded into augmented queries and keys,
  ``q' = [q * scale, rel_h, rel_w]`` and ``k' = [k, onehot(row of key), onehot(column of key)]``, so that
  ``q' . k' = scale * q . k + rel_h[row] + rel_w[column]``; the values are zero-padded to the same width and
  SDPA runs with scale 1 and no mask, which admits the flash kernels. Smaller blocks (14 x 14 windows) keep
  the small materialised mask, which measured faster there.

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

AttentionKind = Literal["reference", "sdpa", "folded"]
ATTENTION_KINDS: tuple[str, ...] = ("reference", "sdpa", "folded")
#: token count from which :class:`FoldedAttention` folds the bias into q and k (global blocks: 64 x 64).
FOLD_MIN_TOKENS = 1024
#: the augmented head width is padded to a multiple of this (the flash kernels' granularity).
HEAD_DIM_MULTIPLE = 8


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


@functools.lru_cache(maxsize=16)
def _key_position_one_hot(
    height: int, width: int, pad: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """(H * W, H + W + pad) rows ``[onehot(row), onehot(column), 0...]`` of the keys in row-major order."""
    rows = torch.arange(height).repeat_interleave(width)
    cols = torch.arange(width).repeat(height)
    table = torch.zeros(height * width, height + width + pad)
    table[torch.arange(height * width), rows] = 1.0
    table[torch.arange(height * width), height + cols] = 1.0
    return table.to(device=device, dtype=dtype)


def folded_rel_pos_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    size_hw: tuple[int, int],
    scale: float,
) -> torch.Tensor:
    """Attention with SAM's decomposed relative-position terms folded into the queries and keys.

    Args:
        q, k, v: (B, heads, N, C) queries (unscaled), keys and values, N = H * W tokens in row-major order.
        rel_pos_h: (2 * H - 1, C) relative-position embeddings along rows.
        rel_pos_w: (2 * W - 1, C) relative-position embeddings along columns.
        size_hw: (H, W), the token grid of queries and keys.
        scale: the softmax scale of ``q . k``.

    Returns:
        (B, heads, N, C): ``softmax(scale * q k^T + bias) v`` with SAM's bias, computed without building the
        (N, N) bias.
    """
    height, width = size_hw
    batch, heads, tokens, channels = q.shape
    rel_h_table = rel_pos_table(height, height, rel_pos_h).to(q.dtype)  # (H, kH, C)
    rel_w_table = rel_pos_table(width, width, rel_pos_w).to(q.dtype)  # (W, kW, C)
    q_grid = q.reshape(batch, heads, height, width, channels)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", q_grid, rel_h_table).reshape(batch, heads, tokens, height)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", q_grid, rel_w_table).reshape(batch, heads, tokens, width)
    pad = -(channels + height + width) % HEAD_DIM_MULTIPLE
    parts = [q * scale, rel_h, rel_w]
    if pad:
        parts.append(q.new_zeros(batch, heads, tokens, pad))
    q_aug = torch.cat(parts, dim=-1)
    one_hot = _key_position_one_hot(height, width, pad, q.device, q.dtype)
    k_aug = torch.cat([k, one_hot.expand(batch, heads, tokens, -1)], dim=-1)
    v_aug = F.pad(v, (0, height + width + pad))
    out = F.scaled_dot_product_attention(q_aug, k_aug, v_aug, scale=1.0)
    return out[..., :channels]


class SdpaAttention(Attention):
    """SAM's ``Attention`` computed with ``F.scaled_dot_product_attention`` (same parameters, same outputs).

    Do not build it directly: convert existing modules with :func:`use_sdpa_attention`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over a (B, H, W, dim) token grid; returns (B, H, W, dim)."""
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, C)
        out = self._attend(q, k, v, (height, width))
        return self.proj(out.transpose(1, 2).reshape(batch, height, width, -1))

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, size_hw: tuple[int, int]
    ) -> torch.Tensor:
        """(B, heads, N, C) attention output; the relative-position bias as an additive mask."""
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, size_hw)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)


class FoldedAttention(SdpaAttention):
    """:class:`SdpaAttention` that folds the relative-position bias into q and k in large blocks.

    Blocks of at least :data:`FOLD_MIN_TOKENS` tokens use :func:`folded_rel_pos_attention`; smaller ones
    the materialised mask. Same parameters and outputs as SAM's ``Attention``. Convert existing modules
    with :func:`set_attention`.
    """

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, size_hw: tuple[int, int]
    ) -> torch.Tensor:
        if not self.use_rel_pos or size_hw[0] * size_hw[1] < FOLD_MIN_TOKENS:
            return super()._attend(q, k, v, size_hw)
        return folded_rel_pos_attention(q, k, v, self.rel_pos_h, self.rel_pos_w, size_hw, self.scale)


_KIND_CLASSES: dict[str, type[Attention]] = {
    "reference": Attention,
    "sdpa": SdpaAttention,
    "folded": FoldedAttention,
}


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
    """Use ``"reference"``, ``"sdpa"`` or ``"folded"`` attention in every block of ``encoder``, in place.

    Only the modules' class changes: parameters, buffers and state-dict keys stay SAM's.

    Raises:
        InputError: unknown kind.
    """
    cls = _KIND_CLASSES.get(kind)
    if cls is None:
        raise InputError(f"unknown attention {kind!r}; choose one of: {', '.join(ATTENTION_KINDS)}")
    for module in _attention_modules(encoder):
        module.__class__ = cls


def attention_kind(encoder: nn.Module) -> str:
    """The attention kind shared by every attention module of ``encoder`` (``"reference"``, ``"sdpa"`` or
    ``"folded"``), or ``"mixed"``."""
    kinds = {
        next(name for name, cls in _KIND_CLASSES.items() if type(m) is cls)
        for m in _attention_modules(encoder)
    }
    return kinds.pop() if len(kinds) == 1 else "mixed"
