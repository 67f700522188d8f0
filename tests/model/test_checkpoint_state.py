from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

import rossam_geo.model.checkpoint as checkpoint
from rossam_geo.errors import CheckpointError, OutputExistsError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint.merged import export_merged, load_merged
from rossam_geo.model.checkpoint.state import (
    load_checked,
    model_state,
    read_safetensors_header,
    read_state_dict,
    write_safetensors,
)


def test_package_names_are_defined_in_their_submodules():
    for name in checkpoint.__all__:
        assert hasattr(checkpoint, name), name
    where = {
        "load_official": "official",
        "inspect_state_dict": "official",
        "CheckpointInfo": "official",
        "save_adapter": "adapter",
        "load_adapter": "adapter",
        "AdapterMetadata": "metadata",
        "file_format": "metadata",
        "export_merged": "merged",
        "load_merged": "merged",
        "import_reference_checkpoint": "reference",
        "read_state_dict": "state",
    }
    for name, module in where.items():
        assert getattr(checkpoint, name).__module__ == f"rossam_geo.model.checkpoint.{module}", name


def test_model_names_resolve_lazily_to_the_package():
    import rossam_geo.model as model_pkg

    assert model_pkg.load_official is checkpoint.load_official
    assert model_pkg.AdapterMetadata is checkpoint.AdapterMetadata


@pytest.mark.parametrize("merged", [False, True])
def test_model_state_folds_or_removes_lora_whatever_the_merged_flag(trained_tiny, merged):
    key = "image_encoder.blocks.1.attn.qkv.weight"
    layer = trained_tiny.image_encoder.blocks[1].attn.qkv
    base = layer.weight.detach().clone()
    delta = layer.lora_delta_weight().detach()
    assert delta.abs().max() > 0
    if merged:
        trained_tiny.merge_lora()
    before = {k: v.clone() for k, v in trained_tiny.state_dict().items()}

    folded = model_state(trained_tiny, [key, "mask_decoder.iou_token.weight"], lora_folded=True)
    unfolded = model_state(trained_tiny, [key], lora_folded=False)

    assert list(folded) == [key, "mask_decoder.iou_token.weight"]
    torch.testing.assert_close(folded[key], base + delta, rtol=0, atol=1e-6)
    torch.testing.assert_close(unfolded[key], base, rtol=0, atol=1e-6)
    assert not folded[key].requires_grad and not unfolded[key].requires_grad
    assert layer.merged is merged
    after = trained_tiny.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the model is not changed


def test_load_checked_lists_missing_and_unexpected_keys():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    load_checked(net, {k: v for k, v in state.items() if k != "1.bias"}, {"1.bias"}, "src")
    assert torch.count_nonzero(net[0].weight) == 0

    with pytest.raises(CheckpointError, match=r"^src does not match the model: missing 1 keys: 0\.bias$"):
        load_checked(net, {k: v for k, v in state.items() if k != "0.bias"}, set(), "src")
    with pytest.raises(
        CheckpointError,
        match=r"^src does not match the model: missing 1 keys: 1\.bias; unexpected 1 keys: x$",
    ):
        load_checked(
            net, {**{k: v for k, v in state.items() if k != "1.bias"}, "x": torch.zeros(1)}, set(), "src"
        )
    with pytest.raises(
        CheckpointError,
        match=r"^src has 1 tensor\(s\) of the wrong shape for the model: "
        r"0\.bias \(7,\) where the model has \(3,\);",
    ):
        load_checked(net, {**state, "0.bias": torch.zeros(7)}, set(), "src")


def test_many_wrong_shapes_make_a_one_line_message_with_the_count_and_the_first_three():
    model = build_rossam("tiny", lora_rank=0)
    other = build_rossam("tiny_wide", lora_rank=0).state_dict()
    state = {k: other.get(k, v) for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as caught:
        load_checked(model, state, set(), "wide.safetensors")
    message = str(caught.value)
    assert message.startswith("wide.safetensors has 61 tensor(s) of the wrong shape for the model (tiny): ")
    assert "; +58 more; it was made for another architecture" in message
    assert "\n" not in message and len(message) < 600


def test_non_finite_weights_are_refused_at_read_naming_the_file_and_the_tensor(tmp_path):
    model = build_rossam("tiny", lora_rank=0)
    path = export_merged(model, tmp_path / "diverged.safetensors")
    state = read_state_dict(path)
    key = "mask_decoder.iou_token.weight"
    state[key][0, :3] = torch.tensor([float("nan"), float("inf"), 1.0])
    state["hq_decoder.hf_token.weight"][:] = float("nan")
    write_safetensors(state, path, read_safetensors_header(path), overwrite=True)
    with pytest.raises(CheckpointError) as caught:
        load_merged(path)
    first = next(k for k in state if not torch.isfinite(state[k]).all())
    assert str(caught.value).startswith(f"{path} holds NaN or infinite weights: tensor {first!r} has ")
    assert "(and 1 more tensors)" in str(caught.value) and "\n" not in str(caught.value)
    pth = tmp_path / "official.pth"
    torch.save({"w": torch.tensor([1.0, float("-inf")])}, pth)
    with pytest.raises(
        CheckpointError, match=r"official.pth holds NaN or infinite weights: tensor 'w' has 1 of 2"
    ):
        read_state_dict(pth)


def test_write_safetensors_header_and_overwrite_rule(tmp_path):
    path = tmp_path / "sub" / "w.safetensors"
    tensor = torch.arange(6.0).reshape(2, 3).t()  # not contiguous
    write_safetensors({"w": tensor}, path, {"format": "x"}, overwrite=False)
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"format": "x"}
        assert torch.equal(f.get_tensor("w"), tensor)
    with pytest.raises(OutputExistsError, match="exists; pass overwrite=True"):
        write_safetensors({"w": tensor}, path, {}, overwrite=False)
    write_safetensors({"w": tensor * 2}, path, {}, overwrite=True)
    with safe_open(str(path), framework="pt") as f:
        assert torch.equal(f.get_tensor("w"), tensor * 2)
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.safetensors"]  # no temporary file left
