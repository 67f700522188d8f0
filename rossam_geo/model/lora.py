"""LoRA on the fused qkv projection of SAM's ViT blocks (q and v branches, k untouched).

Each block's ``attn.qkv`` ``nn.Linear(dim, 3 * dim)`` is replaced by a :class:`LoRAQKVLinear`, a subclass of
``nn.Linear`` that keeps the very same ``weight`` and ``bias`` parameters, so an official SAM state dict still
loads under ``image_encoder.blocks.{i}.attn.qkv.weight`` / ``.bias``. The low-rank factors get their own keys:
``...attn.qkv.lora_a_q.weight``, ``lora_b_q``, ``lora_a_v``, ``lora_b_v``.

Output of the wrapped projection for input ``x``::

    qkv(x) + concat(scale * B_q(A_q(x)), 0, scale * B_v(A_v(x))),   scale = alpha / rank

A is initialised kaiming-uniform (a = sqrt(5)), B with zeros, so a fresh model computes exactly what SAM does.

Default rank 16, alpha 16 (scale 1). The ROS-SAM reference uses rank 512 without scaling; for vit_b
(dim 768) that is two thirds of the projection's own width, so the "low-rank" update has more parameters
(4 x 768 x 512 = 1.57 M per block) than the q and v projections it adapts (2 x 768 x 768 = 1.18 M).
Rank 16 adds 49 k parameters per block (0.59 M for vit_b), and alpha = rank keeps the reference's effective
scale of 1, so its learning rate (1e-3) carries over.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rossam_geo.errors import InputError

#: Names of the LoRA factor modules inside a :class:`LoRAQKVLinear`.
LORA_MODULE_NAMES: tuple[str, ...] = ("lora_a_q", "lora_b_q", "lora_a_v", "lora_b_v")


class LoRAQKVLinear(nn.Linear):
    """A fused ``qkv`` projection ``Linear(dim, 3 * dim)`` with LoRA on its q and v thirds.

    Attributes:
        dim: token width (a third of the output width).
        rank: LoRA rank.
        alpha: LoRA scale numerator.
        scale: ``alpha / rank``.
        merged: True while the LoRA update is folded into ``weight`` (then the factors are not applied).
    """

    def __init__(
        self,
        dim: int,
        rank: int,
        alpha: float,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Create the projection with freshly initialised base weights and LoRA factors.

        Args:
            dim: token width; the projection maps (..., dim) to (..., 3 * dim).
            rank: LoRA rank, >= 1.
            alpha: LoRA scale numerator.
            bias: whether the base projection has a bias (SAM's has).
            device: where to allocate the parameters.
            dtype: parameter dtype.

        Raises:
            InputError: rank < 1.
        """
        if rank < 1:
            raise InputError(f"LoRA rank must be >= 1, got {rank}")
        super().__init__(dim, 3 * dim, bias=bias, device=device, dtype=dtype)
        self.dim = dim
        self.rank = rank
        self.alpha = float(alpha)
        self.scale = self.alpha / rank
        self.merged = False
        factory = {"device": device, "dtype": dtype}
        self.lora_a_q = nn.Linear(dim, rank, bias=False, **factory)
        self.lora_b_q = nn.Linear(rank, dim, bias=False, **factory)
        self.lora_a_v = nn.Linear(dim, rank, bias=False, **factory)
        self.lora_b_v = nn.Linear(rank, dim, bias=False, **factory)
        self.reset_lora_parameters()

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int, alpha: float) -> LoRAQKVLinear:
        """Wrap an existing ``Linear(dim, 3 * dim)``, sharing its weight and bias parameters.

        Raises:
            InputError: the layer is not a fused qkv projection.
        """
        if linear.out_features != 3 * linear.in_features:
            raise InputError(
                f"expected a fused qkv Linear(dim, 3 * dim), got Linear({linear.in_features}, "
                f"{linear.out_features})"
            )
        layer = cls(
            linear.in_features,
            rank,
            alpha,
            bias=linear.bias is not None,
            device="meta",
            dtype=linear.weight.dtype,
        )
        layer.weight = linear.weight
        layer.bias = linear.bias
        device = linear.weight.device
        for name in LORA_MODULE_NAMES:
            setattr(layer, name, getattr(layer, name).to_empty(device=device))
        layer.reset_lora_parameters()
        return layer

    def reset_lora_parameters(self) -> None:
        """A kaiming-uniform (a = sqrt(5)), B zeros: the update starts at exactly zero."""
        for a in (self.lora_a_q, self.lora_a_v):
            nn.init.kaiming_uniform_(a.weight, a=math.sqrt(5))
        for b in (self.lora_b_q, self.lora_b_v):
            nn.init.zeros_(b.weight)

    def lora_delta_weight(self) -> torch.Tensor:
        """The update ``scale * B @ A`` on the full (3 * dim, dim) weight; zero rows for k."""
        delta_q = self.lora_b_q.weight @ self.lora_a_q.weight
        delta_v = self.lora_b_v.weight @ self.lora_a_v.weight
        delta_k = torch.zeros_like(delta_q)
        return torch.cat([delta_q, delta_k, delta_v], dim=0) * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project (..., dim) tokens to (..., 3 * dim) q, k, v."""
        out = F.linear(x, self.weight, self.bias)
        if self.merged:
            return out
        d = self.dim
        delta_q = self.lora_b_q(self.lora_a_q(x)) * self.scale
        delta_v = self.lora_b_v(self.lora_a_v(x)) * self.scale
        return torch.cat([out[..., :d] + delta_q, out[..., d : 2 * d], out[..., 2 * d :] + delta_v], dim=-1)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the LoRA update into ``weight`` (for inference); no-op when already merged."""
        if not self.merged:
            self.weight += self.lora_delta_weight().to(self.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the LoRA update back out of ``weight``; no-op when not merged."""
        if self.merged:
            self.weight -= self.lora_delta_weight().to(self.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}, merged={self.merged}"


def add_lora(encoder: nn.Module, rank: int, alpha: float) -> list[LoRAQKVLinear]:
    """Replace ``attn.qkv`` of every block of a SAM ``ImageEncoderViT`` by a :class:`LoRAQKVLinear`.

    Args:
        encoder: an image encoder with ``blocks[i].attn.qkv`` linear layers.
        rank: LoRA rank, >= 1.
        alpha: LoRA scale numerator.

    Returns:
        The new layers, in block order.
    """
    layers = []
    for block in encoder.blocks:  # type: ignore[union-attr]
        qkv = block.attn.qkv
        if isinstance(qkv, LoRAQKVLinear):
            raise InputError("the encoder already has LoRA layers; build a fresh model to change the rank")
        layer = LoRAQKVLinear.from_linear(qkv, rank=rank, alpha=alpha)
        block.attn.qkv = layer
        layers.append(layer)
    return layers


def lora_layers(module: nn.Module) -> list[LoRAQKVLinear]:
    """All :class:`LoRAQKVLinear` layers inside ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, LoRAQKVLinear)]


def merge_lora(module: nn.Module) -> None:
    """Fold every LoRA update inside ``module`` into its base weight."""
    for layer in lora_layers(module):
        layer.merge()


def unmerge_lora(module: nn.Module) -> None:
    """Take every LoRA update inside ``module`` back out of its base weight."""
    for layer in lora_layers(module):
        layer.unmerge()


def is_lora_parameter_name(name: str) -> bool:
    """Whether a parameter or state-dict key belongs to a LoRA factor."""
    return any(f".{m}." in f".{name}" for m in LORA_MODULE_NAMES)
