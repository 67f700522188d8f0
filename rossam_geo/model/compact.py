"""The compact ROS-SAM configuration that ships with the package (``rossam-compact-v3.2``: v3 with a trained
IoU head and a score calibration).

Same parts as ROS-SAM (ViT image encoder with windowed and global attention, SAM's prompt encoder, SAM's
mask decoder and the HQ decoder fusing the first global block's features) at a size that trains from
scratch on a CPU and segments a box in a few tens of milliseconds:

* model input 128 px: with the pipeline's default 2x sampling rate each box is segmented in a 64 px
  raster window centred on it (boxes longer than about 53 px: a window of 1.2x the box, resized down);
* patch 8 px, so the embedding grid is 16 x 16 and the mask logits 64 x 64 (one logit per raster pixel
  of the 64 px window);
* encoder width 96, depth 4 (global attention in blocks 1 and 3, 8 x 8 windows elsewhere);
* prompt / decoder width 64.

A 256 px input (patch 8) was measured 4x slower per training step on the 2 shared CPU cores of the
training machine (about 2 s against 0.5 s for 4 images with 5 boxes each), too slow to train in the
budget of the recipe.

Unlike ROS-SAM fine-tuning, all parameters are trained (there is no pretrained base to keep).

:data:`COMPACT_V4_CONFIG` (``rossam-compact-v4``, trained on a GPU by ``scripts/train_compact.py --recipe
v4``) keeps the 128 px input and widens and deepens the encoder: width 128, depth 6, 2 heads of 64 channels
(global attention in blocks 2 and 5). Attention cost grows with the number of heads, so two wide heads buy
the extra width at 1.5x v3's time per box instead of 2x (``benchmarks/compact_cpu.py``). A 256 px input
(patch 8) measured about 10x v3's time per box with the default 8-pass test-time augmentation, far over the
150 ms budget. A weights file holds its configuration, so v3 and v4 files both load with
:func:`rossam_geo.model.checkpoint.load_merged`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from rossam_geo.errors import WeightsError
from rossam_geo.model.config import RosSamConfig

if TYPE_CHECKING:
    from rossam_geo.model.rossam import RosSam

#: Name of the bundled model, recorded in every output feature.
COMPACT_MODEL_NAME = "rossam-compact-v3.2"

COMPACT_CONFIG = RosSamConfig(
    name="compact",
    image_size_px=128,
    patch_size_px=8,
    encoder_embed_dim=96,
    encoder_depth=4,
    encoder_num_heads=3,
    encoder_global_attn_indexes=(1, 3),
    encoder_window_size=8,
    encoder_mlp_ratio=4.0,
    prompt_embed_dim=64,
    decoder_depth=2,
    decoder_mlp_dim=256,
    decoder_num_heads=4,
    iou_head_hidden_dim=64,
    mask_in_chans=16,
)

#: Name of the next compact model (trained on a GPU; see :data:`COMPACT_V4_CONFIG`).
COMPACT_V4_MODEL_NAME = "rossam-compact-v4"

COMPACT_V4_CONFIG = dataclasses.replace(
    COMPACT_CONFIG,
    name="compact-v4",
    encoder_embed_dim=128,
    encoder_depth=6,
    encoder_num_heads=2,
    encoder_global_attn_indexes=(2, 5),
)

#: The compact configurations by name (the ``name`` recorded in a weights file's metadata).
COMPACT_CONFIGS: dict[str, RosSamConfig] = {c.name: c for c in (COMPACT_CONFIG, COMPACT_V4_CONFIG)}

#: File name of the bundled weights inside the ``rossam_geo.data`` package folder.
BUNDLED_WEIGHTS_FILE = f"{COMPACT_MODEL_NAME}.safetensors"
#: File name of the bundled model card (JSON: training data, recipe, time, device, evaluation).
BUNDLED_CARD_FILE = f"{COMPACT_MODEL_NAME}.json"


def bundled_weights_path() -> Path | None:
    """Path of the weights shipped inside the package, or ``None`` when this installation lacks them."""
    path = Path(__file__).resolve().parents[1] / "data" / BUNDLED_WEIGHTS_FILE
    return path if path.is_file() else None


def load_bundled() -> RosSam:
    """Load the bundled compact model from the package folder (no network, no weights cache).

    Returns:
        The network in eval mode on the CPU.

    Raises:
        WeightsError: the weights file is not part of this installation.
        CheckpointError: the file is damaged.
    """
    from rossam_geo.model.checkpoint import load_merged

    path = bundled_weights_path()
    if path is None:
        raise WeightsError(
            f"the bundled model {COMPACT_MODEL_NAME} is missing from this installation (rossam_geo/data/"
            f"{BUNDLED_WEIGHTS_FILE}); reinstall rossam-geo, or pass ROS-SAM weights with --weights PATH"
        )
    return load_merged(path).eval()
