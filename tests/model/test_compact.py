from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import export_merged, load_merged
from rossam_geo.model.checkpoint.state import read_safetensors_header
from rossam_geo.model.compact import COMPACT_CONFIG, COMPACT_CONFIGS, COMPACT_V4_CONFIG


def test_both_compact_configurations_are_registered_by_their_file_names():
    assert COMPACT_CONFIGS == {"compact": COMPACT_CONFIG, "compact-v4": COMPACT_V4_CONFIG}
    assert COMPACT_V4_CONFIG.image_size_px == COMPACT_CONFIG.image_size_px == 128
    wider = COMPACT_V4_CONFIG.encoder_embed_dim > COMPACT_CONFIG.encoder_embed_dim
    assert wider and COMPACT_V4_CONFIG.encoder_depth > COMPACT_CONFIG.encoder_depth


@pytest.mark.parametrize("config", [COMPACT_CONFIG, COMPACT_V4_CONFIG], ids=["v3", "v4"])
def test_each_file_loads_with_its_own_configuration_and_d8_by_default(config, tmp_path):
    torch.manual_seed(0)
    net = build_rossam(config, lora_rank=0)
    path = export_merged(net, tmp_path / "model.safetensors")
    assert path.stat().st_size < 16 * 2**20
    loaded = load_merged(path)
    assert loaded.config == config
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert build_rossam_engine(weights=path, device="cpu").tta == "d8"


def test_half_precision_files_load_into_fp32_networks(tmp_path):
    torch.manual_seed(0)
    path = export_merged(build_rossam(COMPACT_V4_CONFIG, lora_rank=0), tmp_path / "fp32.safetensors")
    half = tmp_path / "fp16.safetensors"
    save_file({k: v.half() for k, v in load_file(path).items()}, half, metadata=read_safetensors_header(path))
    assert half.stat().st_size < 0.55 * path.stat().st_size
    loaded = load_merged(half)
    assert next(loaded.parameters()).dtype == torch.float32
    reference = load_merged(path).state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.allclose(value.float(), reference[key].float(), rtol=1e-3, atol=1e-4)
