"""Official SAM / HQ-SAM state dicts: architecture detection and strict loading into a ROS-SAM network.

Official files (``sam_vit_{b,l,h}_*.pth``: 314 / 482 / 594 keys; ``sam_hq_vit_{b,l,h}.pth``: 339 / 507 / 619
keys) are plain state dicts. The only model keys they do not fill are the LoRA factors (and the HQ decoder,
for a SAM file). An HQ-SAM file fills SAM's decoder with its SAM part and the HQ decoder with all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from rossam_geo.errors import CheckpointError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint.keys import (
    HQ_DECODER_PREFIX,
    MASK_DECODER_PREFIX,
    SAM_PART_PREFIXES,
    encoder_block_indices,
    rename_prefix,
)
from rossam_geo.model.checkpoint.state import StateDict, load_checked, read_state_dict
from rossam_geo.model.config import DEFAULT_LORA_ALPHA, DEFAULT_LORA_RANK, RosSamConfig, find_config
from rossam_geo.model.lora import is_lora_parameter_name
from rossam_geo.model.rossam import RosSam

Family = Literal["sam", "hq-sam"]

_FAMILY_LABEL = {"sam": "SAM", "hq-sam": "HQ-SAM"}


@dataclass(frozen=True)
class CheckpointInfo:
    """Architecture of a SAM-family state dict, read from its tensors.

    Attributes:
        family: ``"sam"`` or ``"hq-sam"`` (has ``mask_decoder.hf_token.weight``).
        encoder_embed_dim: ViT width, from ``image_encoder.pos_embed``.
        encoder_depth: number of ViT blocks.
        image_size_px: model input side, from the positional embedding grid and patch size.
        config: the matching registered configuration, or ``None``.
    """

    family: Family
    encoder_embed_dim: int
    encoder_depth: int
    image_size_px: int
    config: RosSamConfig | None

    @property
    def arch(self) -> str:
        """Registered name (``"vit_b"``...) or a description of an unknown architecture."""
        if self.config is not None:
            return self.config.name
        return f"an unknown architecture (embed dim {self.encoder_embed_dim}, depth {self.encoder_depth})"

    def describe(self) -> str:
        """For example ``"vit_l (SAM)"``."""
        return f"{self.arch} ({_FAMILY_LABEL[self.family]})"

    def matches(self, config: RosSamConfig) -> bool:
        """Whether ``config`` has this encoder width, depth and input size."""
        return (self.encoder_embed_dim, self.encoder_depth, self.image_size_px) == (
            config.encoder_embed_dim,
            config.encoder_depth,
            config.image_size_px,
        )


def inspect_state_dict(state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> CheckpointInfo:
    """Detect the architecture and family of a SAM / HQ-SAM state dict.

    Raises:
        CheckpointError: not a SAM-family state dict.
    """
    pos_embed = state_dict.get("image_encoder.pos_embed")
    patch = state_dict.get("image_encoder.patch_embed.proj.weight")
    if pos_embed is None or patch is None or pos_embed.ndim != 4:
        sample = ", ".join(list(state_dict)[:5]) or "none"
        raise CheckpointError(
            f"{source} is not a SAM or HQ-SAM checkpoint: it has no image_encoder.pos_embed / patch_embed "
            f"(first keys: {sample})"
        )
    depth = len(encoder_block_indices(state_dict))
    embed_dim = int(pos_embed.shape[-1])
    image_size = int(pos_embed.shape[1]) * int(patch.shape[-1])
    family: Family = "hq-sam" if "mask_decoder.hf_token.weight" in state_dict else "sam"
    return CheckpointInfo(
        family=family,
        encoder_embed_dim=embed_dim,
        encoder_depth=depth,
        image_size_px=image_size,
        config=find_config(embed_dim, depth, image_size),
    )


def official_keys(model: RosSam) -> set[str]:
    """Model keys that an official SAM checkpoint provides (all but LoRA and the HQ decoder)."""
    return {
        k for k in model.state_dict() if k.startswith(SAM_PART_PREFIXES) and not is_lora_parameter_name(k)
    }


def load_official(
    source: str | Path | Mapping[str, torch.Tensor],
    model: RosSam | None = None,
    *,
    lora_rank: int = DEFAULT_LORA_RANK,
    lora_alpha: float = DEFAULT_LORA_ALPHA,
) -> RosSam:
    """Load an official SAM or HQ-SAM checkpoint (file or state dict) into a ROS-SAM network.

    Files are read with ``torch.load(..., map_location="cpu", weights_only=True)`` (or safetensors). The load
    is strict over the official keys: the model keys left unfilled are exactly the LoRA factors (kept at
    their initial values, so the update is zero) and, for a SAM file, the HQ decoder.

    Args:
        source: path of a ``sam_vit_*.pth`` / ``sam_hq_vit_*.pth`` file, or its state dict.
        model: the network to fill; ``None`` builds one of the checkpoint's architecture.
        lora_rank: LoRA rank of the network built when ``model`` is ``None``.
        lora_alpha: LoRA alpha of the network built when ``model`` is ``None``.

    Returns:
        The filled network (``model`` itself when given), on ``model``'s device, LoRA unmerged.

    Raises:
        CheckpointError: unreadable or non-SAM file, an architecture other than the model's (the message
            names both, e.g. "checkpoint is vit_l (SAM), model is vit_b"), or a key mismatch.
    """
    name = str(source) if isinstance(source, (str, Path)) else "state dict"
    state = read_state_dict(source) if isinstance(source, (str, Path)) else dict(source)
    info = inspect_state_dict(state, name)
    if model is None:
        if info.config is None:
            raise CheckpointError(
                f"{name} is {info.describe()}: not a known SAM size (image {info.image_size_px} px); "
                "expected vit_b, vit_l or vit_h"
            )
        model = build_rossam(info.config, lora_rank=lora_rank, lora_alpha=lora_alpha)
    elif not info.matches(model.config):
        raise CheckpointError(
            f"checkpoint is {info.describe()}, model is {model.config.name}; "
            f"build the model as {info.arch} or give a {model.config.name} checkpoint ({name})"
        )

    mapped: StateDict = {}
    sam_decoder_keys = {MASK_DECODER_PREFIX + k for k in model.mask_decoder.state_dict()}
    for key, value in state.items():
        if info.family == "hq-sam" and key.startswith(MASK_DECODER_PREFIX):
            mapped[rename_prefix(key, MASK_DECODER_PREFIX, HQ_DECODER_PREFIX)] = value
            if key in sam_decoder_keys:
                mapped[key] = value
        else:
            mapped[key] = value
    model_keys = set(model.state_dict())
    allowed_missing = {k for k in model_keys if is_lora_parameter_name(k)}
    if info.family == "sam":
        allowed_missing |= {k for k in model_keys if k.startswith(HQ_DECODER_PREFIX)}
    load_checked(model, mapped, allowed_missing, name)
    for layer in model.lora_layers():
        layer.merged = False  # the qkv weights are now the official base weights
    return model
