"""The segment pipeline: crop plans, resampling, batched prediction, paste-back and output features.

See :mod:`rossam_geo.pipeline.plan` for the geometry of windows, :mod:`rossam_geo.pipeline.run` for the loop
over boxes and :mod:`rossam_geo.pipeline.polygons` for polygons and areas.
"""

from __future__ import annotations

from rossam_geo.pipeline.plan import CropPlan, base_window_side, plan_crop, plan_whole
from rossam_geo.pipeline.resample import logits_to_window_mask, window_to_model_input
from rossam_geo.pipeline.run import (
    ArraySource,
    BoxOutcome,
    ReaderSource,
    WindowSource,
    check_box,
    iter_box_masks,
)

__all__ = [
    "ArraySource",
    "BoxOutcome",
    "CropPlan",
    "ReaderSource",
    "WindowSource",
    "base_window_side",
    "check_box",
    "iter_box_masks",
    "logits_to_window_mask",
    "plan_crop",
    "plan_whole",
    "window_to_model_input",
]
