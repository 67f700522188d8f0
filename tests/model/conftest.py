"""Fixtures for the network tests: tiny ROS-SAM networks and reference SAM / HQ-SAM models built alike."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from rossam_geo.model.build import build_rossam
from rossam_geo.model.config import CONFIGS, RosSamConfig
from rossam_geo.model.rossam import RosSam


def reference_sam(config: RosSamConfig, hq: bool = False) -> torch.nn.Module:
    """A ``segment_anything`` (or ``segment_anything_hq``) ``Sam`` with the sizes of ``config``."""
    if hq:
        from segment_anything_hq import modeling
        from segment_anything_hq.modeling.mask_decoder_hq import MaskDecoderHQ
    else:
        from segment_anything import modeling
    grid = config.image_embedding_size
    transformer = modeling.TwoWayTransformer(
        depth=config.decoder_depth,
        embedding_dim=config.prompt_embed_dim,
        mlp_dim=config.decoder_mlp_dim,
        num_heads=config.decoder_num_heads,
    )
    decoder_kwargs = dict(
        num_multimask_outputs=3,
        transformer=transformer,
        transformer_dim=config.prompt_embed_dim,
        iou_head_depth=3,
        iou_head_hidden_dim=config.iou_head_hidden_dim,
    )
    if hq:
        decoder = MaskDecoderHQ(vit_dim=config.encoder_embed_dim, **decoder_kwargs)
    else:
        decoder = modeling.MaskDecoder(**decoder_kwargs)
    sam = modeling.Sam(
        image_encoder=modeling.ImageEncoderViT(
            depth=config.encoder_depth,
            embed_dim=config.encoder_embed_dim,
            img_size=config.image_size_px,
            mlp_ratio=config.encoder_mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=config.encoder_num_heads,
            patch_size=config.patch_size_px,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=config.encoder_global_attn_indexes,
            window_size=config.encoder_window_size,
            out_chans=config.prompt_embed_dim,
        ),
        prompt_encoder=modeling.PromptEncoder(
            embed_dim=config.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(config.image_size_px, config.image_size_px),
            mask_in_chans=config.mask_in_chans,
        ),
        mask_decoder=decoder,
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


@torch.no_grad()
def perturb_(module: torch.nn.Module, seed: int, std: float = 0.05, only: str = "") -> torch.nn.Module:
    """Add seeded Gaussian noise to the parameters (whose names start with ``only``), in place.

    Zero-initialised tensors (positional embeddings, LoRA B) become non-trivial, so comparisons mean
    something.
    """
    gen = torch.Generator().manual_seed(seed)
    for name, param in module.named_parameters():
        if name.startswith(only):
            param.add_(torch.randn(param.shape, generator=gen, dtype=param.dtype) * std)
    return module


def random_images_u8(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """(batch, size, size, 3) uint8 RGB noise with smooth structure."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand((batch, 3, size // 8, size // 8), generator=gen) * 255
    smooth = torch.nn.functional.interpolate(coarse, (size, size), mode="bilinear", align_corners=False)
    return smooth.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def boxes_for(batch: int, size: int) -> torch.Tensor:
    """(batch, 4) XYXY boxes of different sizes inside a size x size image."""
    rows = []
    for i in range(batch):
        x0, y0 = 4 + 7 * i, 9 + 5 * i
        rows.append([x0, y0, min(size - 2, x0 + size // 3 + 9 * i), min(size - 1, y0 + size // 2 - 3 * i)])
    return torch.tensor(rows, dtype=torch.float32)


@pytest.fixture(scope="session")
def tiny_config() -> RosSamConfig:
    return CONFIGS["tiny"]


@pytest.fixture
def tiny_sam_ref(tiny_config: RosSamConfig) -> torch.nn.Module:
    """A random segment_anything Sam of the tiny sizes (non-trivial weights everywhere)."""
    torch.manual_seed(0)
    return perturb_(reference_sam(tiny_config), seed=1)


@pytest.fixture
def tiny_hq_ref(tiny_config: RosSamConfig) -> torch.nn.Module:
    """A random segment_anything_hq Sam (HQ decoder) of the tiny sizes."""
    torch.manual_seed(0)
    return perturb_(reference_sam(tiny_config, hq=True), seed=2)


@pytest.fixture
def trained_tiny() -> RosSam:
    """A tiny ROS-SAM whose trainable parts all differ from their initial values (as after training)."""
    torch.manual_seed(3)
    model = build_rossam("tiny", lora_rank=4, lora_alpha=8.0)
    perturb_(model, seed=4)
    return model
