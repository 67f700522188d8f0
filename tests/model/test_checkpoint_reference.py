"""Import of checkpoint folders in the layout of the ROS-SAM reference code (accelerate save_state)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from rossam_geo.errors import CheckpointError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import file_format, import_reference_checkpoint

from .conftest import boxes_for, perturb_, random_images_u8

RANK = 6
REFERENCE_LORA = {
    "lora_a_q": "linear_a_q",
    "lora_b_q": "linear_b_q",
    "lora_a_v": "linear_a_v",
    "lora_b_v": "linear_b_v",
}


def _reference_layout(model, prefix: str) -> tuple[dict, dict]:
    """Write the network's tensors under the reference code's key names."""
    sam, hq = {}, {}
    for key, value in model.state_dict().items():
        value = value.clone().contiguous()
        if key.startswith("hq_decoder."):
            hq[prefix + key[len("hq_decoder.") :]] = value
            continue
        if ".attn.qkv." in key:
            block, leaf = key.split(".attn.qkv.")
            module = leaf.split(".")[0]
            if module in REFERENCE_LORA:
                key = f"{block}.attn.qkv.{REFERENCE_LORA[module]}.{leaf.split('.', 1)[1]}"
            else:
                key = f"{block}.attn.qkv.qkv.{leaf}"
        sam[prefix + key] = value
    return sam, hq


@pytest.fixture
def source():
    """A trained-looking network as the reference code would hold it: rank 6, no alpha scaling (scale 1)."""
    torch.manual_seed(0)
    return perturb_(build_rossam("tiny", lora_rank=RANK, lora_alpha=float(RANK)), seed=8).eval()


@pytest.mark.parametrize("prefix", ["", "module."])
def test_reference_folder_round_trip(tmp_path, source, prefix):
    sam, hq = _reference_layout(source, prefix)
    assert f"{prefix}image_encoder.blocks.0.attn.qkv.qkv.weight" in sam
    assert f"{prefix}image_encoder.blocks.0.attn.qkv.linear_b_v.weight" in sam
    save_file(hq, str(tmp_path / "model.safetensors"))
    save_file(sam, str(tmp_path / "model_1.safetensors"))
    assert file_format(tmp_path) == "reference"

    model = import_reference_checkpoint(tmp_path)
    assert model.lora_rank == RANK and model.lora_layers()[0].scale == 1.0
    images, boxes = random_images_u8(2, 128, seed=4), boxes_for(2, 128)
    for mode in ("hq", "sam"):
        expected, _ = source.predict(images, boxes, mode=mode)
        got, _ = model.predict(images, boxes, mode=mode)
        assert torch.equal(expected, got), mode


def test_reference_lora_formula_has_no_scaling(tmp_path, source):
    """The imported block computes qkv(x) + [B_q A_q x, 0, B_v A_v x] from the reference tensors."""
    sam, hq = _reference_layout(source, "")
    save_file(hq, str(tmp_path / "model.safetensors"))
    save_file(sam, str(tmp_path / "model_1.safetensors"))
    layer = import_reference_checkpoint(tmp_path).image_encoder.blocks[1].attn.qkv
    p = "image_encoder.blocks.1.attn.qkv."
    x = torch.randn(5, layer.dim)
    base = x @ sam[p + "qkv.weight"].T + sam[p + "qkv.bias"]
    dq = x @ sam[p + "linear_a_q.weight"].T @ sam[p + "linear_b_q.weight"].T
    dv = x @ sam[p + "linear_a_v.weight"].T @ sam[p + "linear_b_v.weight"].T
    d = layer.dim
    expected = torch.cat([base[:, :d] + dq, base[:, d : 2 * d], base[:, 2 * d :] + dv], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)


def test_incomplete_reference_folder(tmp_path, source):
    sam, _ = _reference_layout(source, "")
    save_file(sam, str(tmp_path / "model_1.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"is not a ROS-SAM reference checkpoint: .* found model_1.safetensors"
    ):
        import_reference_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        import_reference_checkpoint(tmp_path / "nope")
