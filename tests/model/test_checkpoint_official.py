from __future__ import annotations

import pickle

import pytest
import torch

from rossam_geo.errors import CheckpointError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import (
    file_format,
    inspect_state_dict,
    load_official,
    official_keys,
    read_state_dict,
)

from .conftest import perturb_, reference_sam


@pytest.fixture(scope="module")
def vit_b_sam_file(tmp_path_factory):
    """A random official-layout vit_b SAM checkpoint written with torch.save."""
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    sam = sam_model_registry["vit_b"]()
    path = tmp_path_factory.mktemp("official") / "sam_vit_b_random.pth"
    torch.save(sam.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def vit_b_hq_state():
    from segment_anything_hq import sam_model_registry

    torch.manual_seed(1)
    return sam_model_registry["vit_b"]().state_dict()


def test_vit_b_sam_file_loads_strictly(vit_b_sam_file):
    state = torch.load(vit_b_sam_file, map_location="cpu", weights_only=True)
    assert len(state) == 314
    model = load_official(vit_b_sam_file)
    assert model.config.name == "vit_b"
    model_keys = set(model.state_dict())
    assert official_keys(model) == set(state)
    unfilled = model_keys - set(state)
    assert unfilled == {k for k in model_keys if ".lora_" in k or k.startswith("hq_decoder.")}
    ours = model.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in state.items())
    info = inspect_state_dict(state)
    assert (info.family, info.arch, info.describe()) == ("sam", "vit_b", "vit_b (SAM)")


def test_vit_b_hq_state_dict_fills_both_decoders(vit_b_hq_state):
    assert len(vit_b_hq_state) == 339
    model = load_official(vit_b_hq_state)
    ours = model.state_dict()
    unfilled = set(ours) - set(vit_b_hq_state) - {k for k in ours if k.startswith("hq_decoder.")}
    assert unfilled == {k for k in ours if ".lora_" in k}
    decoder_keys = [k for k in vit_b_hq_state if k.startswith("mask_decoder.")]
    assert len(decoder_keys) == 145
    for key in decoder_keys:
        assert torch.equal(ours["hq_decoder." + key[len("mask_decoder.") :]], vit_b_hq_state[key])
    sam_part = [k for k in decoder_keys if k in ours]
    assert len(sam_part) == 120
    assert all(torch.equal(ours[k], vit_b_hq_state[k]) for k in sam_part)
    assert inspect_state_dict(vit_b_hq_state).describe() == "vit_b (HQ-SAM)"


@pytest.mark.parametrize(("arch", "n_keys"), [("vit_l", 482), ("vit_h", 594)])
def test_large_layouts_match_on_meta_device(arch, n_keys):
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        state = sam_model_registry[arch]().state_dict()
        model = build_rossam(arch)
    assert len(state) == n_keys
    assert official_keys(model) == set(state)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items() if k in state} == {
        k: tuple(v.shape) for k, v in state.items()
    }
    assert inspect_state_dict(state).arch == arch


def test_wrong_architecture_names_expected_and_found():
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        vit_l_state = sam_model_registry["vit_l"]().state_dict()
        vit_b_model = build_rossam("vit_b")
    with pytest.raises(
        CheckpointError, match=r"^checkpoint is vit_l \(SAM\), model is vit_b; build the model"
    ):
        load_official(vit_l_state, vit_b_model)


def test_wrong_tiny_architecture_from_file(tmp_path, tiny_config):
    torch.manual_seed(0)
    wide = reference_sam(build_rossam("tiny_wide").config, hq=True)
    path = tmp_path / "wide_hq.pth"
    torch.save(wide.state_dict(), path)
    with pytest.raises(CheckpointError, match=r"checkpoint is tiny_wide \(HQ-SAM\), model is tiny"):
        load_official(path, build_rossam(tiny_config))


def test_tiny_round_trip_through_file(tmp_path, tiny_config, tiny_sam_ref):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_sam_ref.state_dict(), path)
    assert file_format(path) == "official"
    model = load_official(path, build_rossam(tiny_config, lora_rank=2))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_sam_ref.state_dict().items())


def test_loading_resets_a_merged_model(tiny_config, tiny_sam_ref):
    model = perturb_(build_rossam(tiny_config, lora_rank=2), seed=3, only="image_encoder")
    model.merge_lora()
    load_official(tiny_sam_ref.state_dict(), model)
    assert not model.lora_merged
    qkv = "image_encoder.blocks.0.attn.qkv.weight"
    assert torch.equal(model.state_dict()[qkv], tiny_sam_ref.state_dict()[qkv])


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_non_checkpoint_files_give_clear_errors(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(
        CheckpointError, match=r"notes.pth is not a PyTorch checkpoint that loads with weights_only"
    ):
        load_official(text)
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listing)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_official(listing)
    other = tmp_path / "other.pth"
    torch.save({"backbone.weight": torch.zeros(2)}, other)
    with pytest.raises(
        CheckpointError, match=r"is not a SAM or HQ-SAM checkpoint: it has no image_encoder.pos_embed"
    ):
        load_official(other)
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(object()))
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint"):
        read_state_dict(evil)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_official(tmp_path / "missing.pth")


def test_unknown_architecture_without_model(tiny_config):
    state = reference_sam(tiny_config).state_dict()
    state["image_encoder.pos_embed"] = torch.zeros(1, 8, 8, 40)
    with pytest.raises(CheckpointError, match=r"an unknown architecture \(embed dim 40, depth 4\)"):
        load_official(state)


def test_extra_or_missing_keys_are_listed(tiny_config, tiny_sam_ref):
    state = dict(tiny_sam_ref.state_dict())
    state["image_encoder.extra.weight"] = torch.zeros(1)
    del state["prompt_encoder.no_mask_embed.weight"]
    with pytest.raises(
        CheckpointError, match=r"missing 1 keys: prompt_encoder.no_mask_embed.weight; unexpected 1"
    ):
        load_official(state, build_rossam(tiny_config))


def test_wrapped_state_dict_is_unwrapped(tmp_path, tiny_sam_ref):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": tiny_sam_ref.state_dict()}, path)
    assert set(read_state_dict(path)) == set(tiny_sam_ref.state_dict())
