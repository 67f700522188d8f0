from __future__ import annotations

import pytest

from rossam_geo.model.checkpoint.keys import (
    encoder_block_indices,
    encoder_block_prefix,
    format_keys,
    rename_prefix,
    strip_wrapper_prefixes,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("module.image_encoder.pos_embed", "image_encoder.pos_embed"),
        ("_orig_mod.module.hf_token.weight", "hf_token.weight"),
        ("module._orig_mod.module.a", "a"),
        ("image_encoder.module.x", "image_encoder.module.x"),  # only leading prefixes go
        ("modulex.y", "modulex.y"),
    ],
)
def test_strip_wrapper_prefixes(key, expected):
    assert strip_wrapper_prefixes(key) == expected


def test_rename_prefix_moves_only_matching_keys():
    assert rename_prefix("mask_decoder.hf_token.weight", "mask_decoder.", "hq_decoder.") == (
        "hq_decoder.hf_token.weight"
    )
    assert rename_prefix("image_encoder.mask_decoder.x", "mask_decoder.", "hq_decoder.") == (
        "image_encoder.mask_decoder.x"
    )
    assert rename_prefix("hf_token.weight", "", "hq_decoder.") == "hq_decoder.hf_token.weight"


def test_encoder_block_indices_and_prefix():
    keys = [
        "image_encoder.blocks.0.attn.qkv.weight",
        "image_encoder.blocks.11.mlp.lin1.bias",
        "image_encoder.blocks.11.norm1.weight",
        "image_encoder.neck.0.weight",
        "hq_decoder.blocks.3.x",
    ]
    assert encoder_block_indices(keys) == {0, 11}
    assert encoder_block_prefix(11) == "image_encoder.blocks.11."
    assert keys[1].startswith(encoder_block_prefix(11)) and not keys[1].startswith(encoder_block_prefix(1))


def test_format_keys_sorts_and_counts_the_rest():
    assert format_keys({"b", "a"}) == "a, b"
    assert format_keys([f"k{i}" for i in range(8)], limit=3) == "k0, k1, k2 (+5 more)"
    assert format_keys([]) == ""
