"""SDPA attention with the relative-position bias as a mask equals segment_anything's attention."""

from __future__ import annotations

import copy

import pytest
import torch
from segment_anything.modeling.image_encoder import Attention, Block, get_rel_pos

from rossam_geo.errors import InputError
from rossam_geo.model.attention import (
    FoldedAttention,
    SdpaAttention,
    _relative_index,
    attention_kind,
    decomposed_rel_pos_bias,
    rel_pos_table,
    set_attention,
    use_reference_attention,
    use_sdpa_attention,
)
from rossam_geo.model.build import build_rossam
from tests.model.conftest import perturb_


def _vit_b_block(window_size: int) -> Block:
    """One vit_b encoder block (width 768, 12 heads) with random, non-zero relative-position tables."""
    torch.manual_seed(0)
    block = Block(768, 12, qkv_bias=True, use_rel_pos=True, window_size=window_size, input_size=(64, 64))
    with torch.no_grad():
        block.attn.rel_pos_h.normal_(0, 0.5)
        block.attn.rel_pos_w.normal_(0, 0.5)
    return block.eval()


@pytest.mark.parametrize("window_size", [0, 14], ids=["global", "windowed"])
def test_sdpa_equals_reference_on_a_vit_b_block(window_size):
    block = _vit_b_block(window_size)
    fused = copy.deepcopy(block)
    assert use_sdpa_attention(fused) == 1
    x = torch.randn(1, 64, 64, 768, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, actual = block(x), fused(x)
    assert type(fused.attn) is SdpaAttention
    assert (actual - expected).abs().max().item() <= 1e-5


def test_sdpa_equals_reference_on_the_tiny_encoder():
    torch.manual_seed(0)
    model = perturb_(build_rossam("tiny", lora_rank=0), seed=2, std=0.2, only="image_encoder")
    images = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        emb_ref, interm_ref = model.image_encoder(images)
        set_attention(model.image_encoder, "sdpa")
        emb, interm = model.image_encoder(images)
    assert attention_kind(model.image_encoder) == "sdpa"
    assert (emb - emb_ref).abs().max().item() <= 1e-5
    assert (interm - interm_ref).abs().max().item() <= 1e-5


def test_bias_matches_segment_anythings_decomposed_terms():
    from segment_anything.modeling.image_encoder import add_decomposed_rel_pos

    gen = torch.Generator().manual_seed(4)
    q = torch.randn(2, 3, 5 * 6, 8, generator=gen)  # (B, heads, N, C) on a 5 x 6 grid
    rel_h, rel_w = torch.randn(9, 8, generator=gen), torch.randn(11, 8, generator=gen)
    zeros = torch.zeros(6, 30, 30)
    expected = add_decomposed_rel_pos(zeros, q.reshape(6, 30, 8), rel_h, rel_w, (5, 6), (5, 6))
    actual = decomposed_rel_pos_bias(q, rel_h, rel_w, (5, 6))
    assert actual.shape == (2, 3, 30, 30)
    assert torch.allclose(actual.reshape(6, 30, 30), expected, atol=1e-6)


def test_swap_keeps_state_dict_and_is_reversible():
    model = build_rossam("tiny", lora_rank=4)
    keys_before = list(model.state_dict())
    set_attention(model.image_encoder, "sdpa")
    assert list(model.state_dict()) == keys_before
    fresh = build_rossam("tiny", lora_rank=4)
    use_sdpa_attention(fresh.image_encoder)
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert use_reference_attention(model.image_encoder) == 4
    assert all(type(b.attn) is Attention for b in model.image_encoder.blocks)
    assert attention_kind(model.image_encoder) == "reference"
    use_sdpa_attention(model.image_encoder.blocks[0])
    assert attention_kind(model.image_encoder) == "mixed"


def test_unknown_attention_is_refused():
    model = build_rossam("tiny", lora_rank=0)
    with pytest.raises(InputError, match="unknown attention 'flash'; choose one of: reference, sdpa"):
        set_attention(model.image_encoder, "flash")


@pytest.mark.parametrize(("q_size", "k_size"), [(14, 14), (64, 64), (8, 16), (16, 8)])
def test_rel_pos_table_equals_get_rel_pos_and_reuses_one_device_index(q_size, k_size):
    table = torch.randn(2 * max(q_size, k_size) - 1, 6)
    assert torch.equal(rel_pos_table(q_size, k_size, table), get_rel_pos(q_size, k_size, table))
    first = _relative_index(q_size, k_size, table.device)
    assert _relative_index(q_size, k_size, table.device) is first  # built once, not per call
    assert first.device == table.device and first.dtype == torch.int64


def test_rel_pos_table_of_another_length_is_interpolated_like_sam():
    table = torch.randn(9, 4)  # trained for 5 tokens, used for 7
    assert torch.equal(rel_pos_table(7, 7, table), get_rel_pos(7, 7, table))


def _block(dim: int, heads: int, window_size: int) -> Block:
    torch.manual_seed(0)
    block = Block(dim, heads, qkv_bias=True, use_rel_pos=True, window_size=window_size, input_size=(64, 64))
    with torch.no_grad():
        block.attn.rel_pos_h.normal_(0, 0.5)
        block.attn.rel_pos_w.normal_(0, 0.5)
    return block.eval()


@pytest.mark.parametrize(
    ("dim", "heads", "window_size"),
    [(768, 12, 0), (768, 12, 14), (1280, 16, 0)],
    ids=["vit_b-global", "vit_b-windowed", "vit_h-global"],
)
def test_folded_attention_equals_reference(dim, heads, window_size):
    """vit_b heads are 64 wide (64 + 64 + 64 = 192, no padding); vit_h heads 80 wide (208 after padding)."""
    block = _block(dim, heads, window_size)
    folded = copy.deepcopy(block)
    set_attention(folded, "folded")
    x = torch.randn(1, 64, 64, dim, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, actual = block(x), folded(x)
    assert type(folded.attn) is FoldedAttention and attention_kind(folded) == "folded"
    assert (actual - expected).abs().max().item() <= 1e-5


def test_folding_builds_no_token_by_token_bias(monkeypatch):
    """In a global block the folded kernel gets no mask; a 14 x 14 window keeps the materialised mask."""
    masks: list[object] = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def recording(q, k, v, attn_mask=None, **kwargs):
        masks.append(attn_mask)
        return sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording)
    x = torch.randn(1, 64, 64, 768)
    for window_size in (0, 14):
        block = _block(768, 12, window_size)
        set_attention(block, "folded")
        with torch.inference_mode():
            block(x)
    assert masks[0] is None
    assert masks[1] is not None and tuple(masks[1].shape[-2:]) == (196, 196)


def test_folded_attention_on_the_tiny_encoder(monkeypatch):
    import rossam_geo.model.attention as attention

    monkeypatch.setattr(attention, "FOLD_MIN_TOKENS", 1)  # fold the tiny encoder's 8 x 8 blocks too
    torch.manual_seed(0)
    model = perturb_(build_rossam("tiny", lora_rank=0), seed=2, std=0.2, only="image_encoder")
    images = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        emb_ref, interm_ref = model.image_encoder(images)
        set_attention(model.image_encoder, "folded")
        emb, interm = model.image_encoder(images)
    assert (emb - emb_ref).abs().max().item() <= 1e-5
    assert (interm - interm_ref).abs().max().item() <= 1e-5


def test_training_after_inference_with_sdpa_attention_regression():
    """The cached relative-position index, first built under inference mode, once broke training after it
    ("Inference tensors cannot be saved for backward")."""
    _relative_index.cache_clear()
    torch.manual_seed(0)
    encoder = build_rossam("tiny", lora_rank=0).image_encoder
    use_sdpa_attention(encoder)
    images = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        encoder(images)
    embeddings, _ = encoder(images)
    embeddings.sum().backward()
    assert encoder.blocks[0].attn.rel_pos_h.grad.abs().sum() > 0
