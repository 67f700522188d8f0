from __future__ import annotations

import pytest
import torch

from rossam_geo.errors import InputError
from rossam_geo.model.lora import LoRAQKVLinear, is_lora_parameter_name


def _wrapped(dim: int = 12, rank: int = 3, alpha: float = 6.0) -> tuple[torch.nn.Linear, LoRAQKVLinear]:
    torch.manual_seed(0)
    base = torch.nn.Linear(dim, 3 * dim)
    reference = torch.nn.Linear(dim, 3 * dim)
    reference.load_state_dict(base.state_dict())
    return reference, LoRAQKVLinear.from_linear(base, rank=rank, alpha=alpha)


def test_fresh_lora_reproduces_base_exactly():
    reference, layer = _wrapped()
    x = torch.randn(2, 5, 12)
    assert torch.equal(layer(x), reference(x))
    assert torch.count_nonzero(layer.lora_b_q.weight) == 0
    assert torch.count_nonzero(layer.lora_a_q.weight) > 0


def test_base_parameters_are_shared_not_copied():
    base = torch.nn.Linear(8, 24)
    layer = LoRAQKVLinear.from_linear(base, rank=2, alpha=2.0)
    assert layer.weight is base.weight and layer.bias is base.bias
    keys = set(layer.state_dict())
    assert keys == {
        "weight",
        "bias",
        "lora_a_q.weight",
        "lora_b_q.weight",
        "lora_a_v.weight",
        "lora_b_v.weight",
    }
    assert layer.lora_a_q.weight.shape == (2, 8) and layer.lora_b_v.weight.shape == (8, 2)


def test_update_goes_to_q_and_v_only_with_alpha_over_rank_scale():
    reference, layer = _wrapped(dim=12, rank=3, alpha=6.0)
    with torch.no_grad():
        for b in (layer.lora_b_q, layer.lora_b_v):
            b.weight.normal_()
    x = torch.randn(4, 12)
    out, base = layer(x), reference(x)
    scale = 6.0 / 3
    expected_q = base[:, :12] + scale * (x @ layer.lora_a_q.weight.T @ layer.lora_b_q.weight.T)
    expected_v = base[:, 24:] + scale * (x @ layer.lora_a_v.weight.T @ layer.lora_b_v.weight.T)
    torch.testing.assert_close(out[:, :12], expected_q)
    assert torch.equal(out[:, 12:24], base[:, 12:24])
    torch.testing.assert_close(out[:, 24:], expected_v)
    assert not torch.allclose(out[:, :12], base[:, :12])


def test_merge_matches_unmerged_and_unmerge_restores():
    _, layer = _wrapped(dim=16, rank=4, alpha=4.0)
    with torch.no_grad():
        layer.lora_b_q.weight.normal_()
        layer.lora_b_v.weight.normal_()
    base_weight = layer.weight.detach().clone()
    x = torch.randn(3, 7, 16)
    unmerged = layer(x)
    layer.merge()
    assert layer.merged
    merged = layer(x)
    assert (merged - unmerged).abs().max() <= 1e-5
    assert not torch.equal(layer.weight, base_weight)
    layer.merge()  # idempotent
    assert (layer(x) - unmerged).abs().max() <= 1e-5
    layer.unmerge()
    assert not layer.merged
    assert (layer.weight - base_weight).abs().max() <= 1e-6


def test_gradients_reach_lora_factors():
    _, layer = _wrapped()
    with torch.no_grad():
        layer.lora_b_q.weight.normal_()
    layer(torch.randn(2, 12)).sum().backward()
    assert layer.lora_a_q.weight.grad is not None and layer.lora_a_q.weight.grad.abs().sum() > 0
    assert layer.lora_b_v.weight.grad is not None and layer.lora_b_v.weight.grad.abs().sum() > 0


def test_invalid_shapes_and_rank():
    with pytest.raises(
        InputError, match=r"expected a fused qkv Linear\(dim, 3 \* dim\), got Linear\(8, 16\)"
    ):
        LoRAQKVLinear.from_linear(torch.nn.Linear(8, 16), rank=2, alpha=2.0)
    with pytest.raises(InputError, match="LoRA rank must be >= 1, got 0"):
        LoRAQKVLinear(8, rank=0, alpha=1.0)


def test_lora_key_names():
    assert is_lora_parameter_name("image_encoder.blocks.3.attn.qkv.lora_a_q.weight")
    assert is_lora_parameter_name("lora_b_v.weight")
    assert not is_lora_parameter_name("image_encoder.blocks.3.attn.qkv.weight")
    assert not is_lora_parameter_name("mask_decoder.iou_token.weight")
