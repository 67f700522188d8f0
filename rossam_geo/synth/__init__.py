"""Seeded synthetic overhead scenes with exact masks, for training the bundled compact model.

Only procedural textures and permissively licensed rasters are used, so models trained on these scenes
may be redistributed.
"""

from __future__ import annotations

from rossam_geo.synth.coco import mask_to_rle, write_coco_dataset
from rossam_geo.synth.scene import CATEGORIES, KIND_WEIGHTS, SCENE_KINDS, SynthScene, generate_scene

__all__ = [
    "CATEGORIES",
    "KIND_WEIGHTS",
    "SCENE_KINDS",
    "SynthScene",
    "generate_scene",
    "mask_to_rle",
    "write_coco_dataset",
]
