"""Fixtures of the fast-path tests: a tiny SAM-layout checkpoint with non-trivial weights and its networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import load_official
from rossam_geo.model.config import CONFIGS
from rossam_geo.model.rossam import RosSam
from tests.model.conftest import perturb_, reference_sam


@pytest.fixture(scope="module")
def tiny_sam_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint in the official SAM layout; weights perturbed so rel-pos tables are not zero."""
    torch.manual_seed(0)
    ref = perturb_(reference_sam(CONFIGS["tiny"]), seed=11, std=0.1)
    path = tmp_path_factory.mktemp("fast") / "sam_tiny.pth"
    torch.save(ref.state_dict(), path)
    return path


@pytest.fixture
def tiny_rossam(tiny_sam_file: Path) -> RosSam:
    """A tiny ROS-SAM (LoRA rank 4 with non-zero factors) on the tiny SAM weights."""
    torch.manual_seed(3)
    model = load_official(tiny_sam_file, build_rossam("tiny", lora_rank=4, lora_alpha=4.0))
    perturb_(model, seed=4, std=0.05, only="image_encoder.blocks")
    perturb_(model, seed=5, std=0.05, only="hq_decoder")
    return model.eval()


@pytest.fixture
def blob_image() -> np.ndarray:
    """(96, 96, 3) uint8: smooth textured background with three bright ellipses (the objects)."""
    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[0:96, 0:96]
    image = np.stack([40 + 20 * np.sin(cols / 7.0), 60 + 20 * np.cos(rows / 5.0), 50 + 0 * rows], axis=2)
    image = image + rng.normal(0, 6, image.shape)
    for cy, cx, ry, rx in ((20, 24, 8, 12), (60, 30, 10, 6), (70, 72, 9, 14)):
        inside = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1
        image[inside] = (220, 200, 90)
    return np.clip(image, 0, 255).astype(np.uint8)


#: boxes around the ellipses of ``blob_image`` (XYXY pixels), and one bad box (inverted).
BLOB_BOXES = np.array(
    [[11, 11, 37, 29], [23, 49, 37, 71], [57, 60, 87, 80], [30, 30, 20, 40]], dtype=np.float64
)
