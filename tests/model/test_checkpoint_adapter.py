from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from rossam_geo import __version__
from rossam_geo.errors import CheckpointError, InputError, OutputExistsError
from rossam_geo.io.hashing import sha256_file
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import (
    ADAPTER_FORMAT,
    adapter_keys,
    export_merged,
    file_format,
    load_adapter,
    load_merged,
    load_official,
    read_metadata,
    save_adapter,
)

from .conftest import boxes_for, perturb_, random_images_u8


@pytest.fixture
def base_file(tmp_path, tiny_sam_ref):
    path = tmp_path / "base_tiny.pth"
    torch.save(tiny_sam_ref.state_dict(), path)
    return path


@pytest.fixture
def trained(base_file):
    """A tiny network on the base file whose trainable parts were changed, as by training."""
    torch.manual_seed(0)
    model = load_official(base_file, build_rossam("tiny", lora_rank=4, lora_alpha=8.0))
    model.freeze_for_training()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(9)
        for param in model.trainable_parameters():
            param.add_(torch.randn(param.shape, generator=gen) * 0.05)
    return model.eval()


def _outputs(model):
    images, boxes = random_images_u8(2, 128, seed=11), boxes_for(2, 128)
    return {mode: model.predict(images, boxes, mode=mode) for mode in ("hq", "sam", "sam+hq")}


def _fresh(base_file, rank=4, alpha=8.0):
    torch.manual_seed(123)  # other LoRA / HQ initial values than the trained model
    return load_official(base_file, build_rossam("tiny", lora_rank=rank, lora_alpha=alpha))


def test_adapter_round_trip_reproduces_outputs_exactly(tmp_path, base_file, trained):
    sha = sha256_file(base_file)
    path = save_adapter(trained, tmp_path / "adapter.safetensors", "base_tiny.pth", sha)
    assert file_format(path) == "adapter"
    meta = read_metadata(path)
    assert (meta.format, meta.format_version, meta.arch) == (ADAPTER_FORMAT, "1", "tiny")
    assert (meta.lora_rank, meta.lora_alpha, meta.base_name, meta.base_sha256) == (
        4,
        8.0,
        "base_tiny.pth",
        sha,
    )
    assert meta.package_version == __version__ and meta.config == trained.config
    with safe_open(str(path), "pt") as f:
        stored = set(f.keys())
    assert stored == set(adapter_keys(trained))
    assert any(k.startswith("image_encoder.blocks.3.attn.qkv.weight") for k in stored)
    assert not any(k.startswith("image_encoder.blocks.2.") and ".lora_" not in k for k in stored)
    assert not any(k.startswith("prompt_encoder.") for k in stored)

    restored = _fresh(base_file)
    before = _outputs(restored)
    load_adapter(restored, path)
    expected, got = _outputs(trained), _outputs(restored)
    for mode in expected:
        assert torch.equal(expected[mode][0], got[mode][0]), mode
        assert torch.equal(expected[mode][1], got[mode][1]), mode
    assert not torch.equal(before["hq"][0], got["hq"][0])


def test_adapter_from_merged_model_matches(tmp_path, base_file, trained):
    expected = _outputs(trained)
    trained.merge_lora()
    path = save_adapter(trained, tmp_path / "a.safetensors", "base", sha256_file(base_file))
    assert trained.lora_merged  # the model is left as it was
    restored = _fresh(base_file)
    load_adapter(restored, path)
    got = _outputs(restored)
    for mode in expected:
        assert (expected[mode][0] - got[mode][0]).abs().max() <= 1e-5


def test_merge_matches_unmerged_network(trained):
    unmerged = _outputs(trained)
    trained.merge_lora()
    merged = _outputs(trained)
    for mode in unmerged:
        diff = (unmerged[mode][0] - merged[mode][0]).abs().max()
        assert diff <= 1e-5, (mode, float(diff))
    trained.unmerge_lora()
    assert not trained.lora_merged


def test_merged_export_loads_back(tmp_path, trained):
    expected = _outputs(trained)
    path = export_merged(trained, tmp_path / "merged.safetensors", base_name="base_tiny.pth")
    assert file_format(path) == "merged"
    assert not trained.lora_merged
    model = load_merged(path)
    assert model.lora_rank == 0 and model.lora_layers() == []
    got = _outputs(model)
    for mode in expected:
        assert (expected[mode][0] - got[mode][0]).abs().max() <= 1e-5
    with pytest.raises(CheckpointError, match="is a merged export, not an adapter; load it with load_merged"):
        load_adapter(build_rossam("tiny"), path)


def test_adapter_rank_and_arch_mismatch(tmp_path, base_file, trained):
    path = save_adapter(trained, tmp_path / "a.safetensors", "base", sha256_file(base_file))
    with pytest.raises(
        CheckpointError,
        match=r"has LoRA rank 4 alpha 8, model has rank 16 alpha 16; build the model with "
        r"lora_rank=4, lora_alpha=8",
    ):
        load_adapter(build_rossam("tiny"), path)
    with pytest.raises(CheckpointError, match=r"adapter .*a.safetensors is for tiny, model is tiny_wide"):
        load_adapter(build_rossam("tiny_wide", lora_rank=4, lora_alpha=8.0), path)
    with pytest.raises(CheckpointError, match=r"is an adapter, not a merged export"):
        load_merged(path)


def test_adapter_write_rules(tmp_path, trained):
    sha = "a" * 64
    out_dir = tmp_path / "out"
    path = save_adapter(trained, out_dir / "a.safetensors", "base", sha)
    with pytest.raises(OutputExistsError, match=r"a.safetensors exists; pass overwrite=True"):
        save_adapter(trained, path, "base", sha)
    save_adapter(trained, path, "base", sha, overwrite=True)
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.safetensors"]  # no temp files left
    with pytest.raises(InputError, match="base_sha256 must be 64 lowercase hex digits, got 'abc'"):
        save_adapter(trained, tmp_path / "b.safetensors", "base", "abc")


def test_foreign_safetensors_is_not_an_adapter(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "pt"})
    assert file_format(path) == "official"
    with pytest.raises(
        CheckpointError, match=r"is not a rossam-geo adapter or merged export \(metadata format 'pt'\)"
    ):
        read_metadata(path)
    with pytest.raises(CheckpointError, match="is not a SAM or HQ-SAM checkpoint"):
        load_official(path)


def test_adapter_changed_tensors_detected(tmp_path, trained):
    from safetensors.torch import load_file, save_file

    path = save_adapter(trained, tmp_path / "a.safetensors", "base", "b" * 64)
    with safe_open(str(path), "pt") as f:
        header = f.metadata()
    tensors = load_file(str(path))
    del tensors["hq_decoder.hf_token.weight"]
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(
        CheckpointError, match=r"does not match the model: missing hq_decoder.hf_token.weight"
    ):
        load_adapter(perturb_(build_rossam("tiny", lora_rank=4, lora_alpha=8.0), seed=1), path)
