from __future__ import annotations

import pytest
import torch

from rossam_geo.errors import InputError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import official_keys
from rossam_geo.model.config import CONFIGS, RosSamConfig, find_config, get_config
from rossam_geo.model.lora import LoRAQKVLinear


@pytest.mark.parametrize(
    ("name", "dim", "depth", "heads", "global_blocks"),
    [
        ("vit_b", 768, 12, 12, (2, 5, 8, 11)),
        ("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
        ("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
    ],
)
def test_official_sizes(name, dim, depth, heads, global_blocks):
    cfg = CONFIGS[name]
    assert (cfg.encoder_embed_dim, cfg.encoder_depth, cfg.encoder_num_heads) == (dim, depth, heads)
    assert cfg.encoder_global_attn_indexes == global_blocks
    assert (cfg.image_size_px, cfg.patch_size_px, cfg.encoder_window_size) == (1024, 16, 14)
    assert (cfg.image_embedding_size, cfg.low_res_mask_size_px, cfg.prompt_embed_dim) == (64, 256, 256)
    assert cfg.last_block_index == depth - 1
    assert cfg.first_global_block_index == global_blocks[0]


@pytest.mark.parametrize(("name", "n_keys"), [("vit_b", 314), ("vit_l", 482), ("vit_h", 594)])
def test_official_key_counts_on_meta_device(name, n_keys):
    with torch.device("meta"):
        model = build_rossam(name)
    assert len(official_keys(model)) == n_keys
    blocks = model.image_encoder.blocks
    assert len(blocks) == CONFIGS[name].encoder_depth
    assert all(isinstance(b.attn.qkv, LoRAQKVLinear) for b in blocks)


def test_vit_b_parameter_count_equals_sam():
    with torch.device("meta"):
        model = build_rossam("vit_b")
    keys = official_keys(model)
    n_sam = sum(p.numel() for name, p in model.named_parameters() if name in keys)
    assert n_sam == 93_735_472


def test_tiny_forward_is_shaped(tiny_config):
    torch.manual_seed(0)
    model = build_rossam(tiny_config)
    images = torch.randint(0, 256, (2, 128, 128, 3), dtype=torch.uint8)
    boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [30.0, 20.0, 100.0, 90.0]])
    logits, scores = model.predict(images, boxes)
    assert logits.shape == (2, 128, 128) and logits.dtype == torch.float32
    assert scores.shape == (2,)
    assert torch.isfinite(logits).all() and torch.isfinite(scores).all()


def test_config_dict_round_trip_and_lookup():
    for cfg in CONFIGS.values():
        assert RosSamConfig.from_dict(cfg.to_dict()) == cfg
        assert find_config(cfg.encoder_embed_dim, cfg.encoder_depth, cfg.image_size_px) == cfg
    assert find_config(999, 3, 1024) is None
    assert get_config("vit_l") is CONFIGS["vit_l"]


def test_unknown_config_name_lists_choices():
    with pytest.raises(InputError, match=r"unknown model configuration 'vit_x'; choose one of: vit_b, vit_l"):
        get_config("vit_x")


def test_config_without_global_block_is_rejected():
    with pytest.raises(InputError, match=r"encoder_global_attn_indexes \(\) must name at least one block"):
        RosSamConfig(name="bad", encoder_global_attn_indexes=())
    with pytest.raises(InputError, match="unknown RosSamConfig fields"):
        RosSamConfig.from_dict({"name": "x", "colour": 3})


def test_negative_rank_is_rejected():
    with pytest.raises(InputError, match="lora_rank must be >= 0, got -1"):
        build_rossam("tiny", lora_rank=-1)


def test_rank_zero_builds_plain_linear(tiny_config):
    model = build_rossam(tiny_config, lora_rank=0)
    assert model.lora_layers() == []
    assert all(type(b.attn.qkv) is torch.nn.Linear for b in model.image_encoder.blocks)
    assert model.named_parameter_groups()["lora"] == {}
