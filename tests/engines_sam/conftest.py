"""Fixtures for the SAM-family engine tests: tiny official-layout files, adapters and merged exports."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rossam_geo.io.hashing import sha256_file
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import load_official, save_adapter
from rossam_geo.model.config import CONFIGS
from rossam_geo.model.rossam import RosSam
from tests.model.conftest import perturb_, reference_sam


@pytest.fixture(scope="module")
def tiny_sam_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint in the official SAM layout (random weights)."""
    torch.manual_seed(0)
    ref = perturb_(reference_sam(CONFIGS["tiny"]), seed=1)
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pth"
    torch.save(ref.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def tiny_hq_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint in the official HQ-SAM layout (random weights)."""
    torch.manual_seed(0)
    ref = perturb_(reference_sam(CONFIGS["tiny"], hq=True), seed=2)
    path = tmp_path_factory.mktemp("hq") / "sam_hq_tiny.pth"
    torch.save(ref.state_dict(), path)
    return path


@pytest.fixture
def trained_on_hq(tiny_hq_file: Path) -> RosSam:
    """A tiny ROS-SAM on the HQ base with changed trainable parts (as after training)."""
    torch.manual_seed(5)
    model = load_official(tiny_hq_file, build_rossam("tiny", lora_rank=4, lora_alpha=4.0))
    model.freeze_for_training()
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for param in model.trainable_parameters():
            param.add_(torch.randn(param.shape, generator=gen) * 0.05)
    return model.eval()


@pytest.fixture
def adapter_file(tmp_path: Path, trained_on_hq: RosSam, tiny_hq_file: Path) -> Path:
    """An adapter whose metadata names its base by absolute path."""
    return save_adapter(
        trained_on_hq, tmp_path / "adapter.safetensors", str(tiny_hq_file), sha256_file(tiny_hq_file)
    )
