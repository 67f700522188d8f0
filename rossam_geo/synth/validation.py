"""Quick synthetic validation of a network during a training run: mean IoU on generated scenes.

The shipping decision uses ``rossam-geo evaluate --dataset`` on fixed validation folders (see
``docs/model_card.md``); this in-process score is for the end of a GPU run, where those folders are not at
hand. Scenes are seeded ``(VALIDATION_SEED, i)`` (two numbers: never a training-stream scene) and scored
with the ``rossam`` engine's defaults (HQ mode, the configuration's default test-time augmentation).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from rossam_geo.model.rossam import RosSam

VALIDATION_SEED = 7


def synthetic_mean_iou(
    net: RosSam,
    num_scenes: int,
    device: torch.device | str,
    deadline: float,
    *,
    generator: str = "v4",
    size_px: int = 256,
) -> dict[str, Any]:
    """Mean per-object IoU of ``net`` on up to ``num_scenes`` generated scenes, stopping at ``deadline``.

    Args:
        net: the network (moved to ``device`` and put in eval mode).
        num_scenes: scenes ``(VALIDATION_SEED, 0)`` ... to score, without background rasters.
        device: inference device.
        deadline: ``time.monotonic()`` value after which no further scene is started.
        generator: scene generator.
        size_px: scene side.

    Returns:
        ``mean_iou`` (percent, NaN without objects), ``objects``, ``scenes`` scored, ``seconds``,
        ``generator``, ``seed``, ``size_px``, ``tta``.
    """
    from rossam_geo.api import Segmenter
    from rossam_geo.engines.sam import build_rossam_engine
    from rossam_geo.evaluate.metrics import mask_iou
    from rossam_geo.synth.scene import generate_scene

    start = time.monotonic()
    engine = build_rossam_engine(model=net, device=str(device))
    segmenter = Segmenter(engine)
    ious: list[float] = []
    scored = 0
    for i in range(num_scenes):
        if time.monotonic() >= deadline:
            break
        scene = generate_scene((VALIDATION_SEED, i), size_px=size_px, generator=generator)
        if scene.classes:
            results = segmenter.segment_array(scene.image_rgb, scene.boxes_px_xyxy)
            ious += [mask_iou(gt, r.mask) for gt, r in zip(scene.masks, results, strict=True)]
        scored += 1
    return {
        "mean_iou": round(100.0 * float(np.mean(ious)), 2) if ious else float("nan"),
        "objects": len(ious),
        "scenes": scored,
        "seconds": round(time.monotonic() - start, 1),
        "generator": generator,
        "seed": VALIDATION_SEED,
        "size_px": size_px,
        "tta": getattr(engine, "tta", "auto"),
    }
