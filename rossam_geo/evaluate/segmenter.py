"""What the evaluation asks of a segmenter, and the default one (:class:`rossam_geo.api.Segmenter`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np


class MaskResultLike(Protocol):
    """What the evaluation reads from one segmentation result."""

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool mask on the whole image."""
        ...

    @property
    def score(self) -> float:
        """The engine's confidence."""
        ...

    @property
    def status(self) -> str:
        """``ok``, ``skipped`` or ``failed``."""
        ...

    @property
    def reason(self) -> str:
        """Why the status is not ``ok``."""
        ...


class SegmenterLike(Protocol):
    """What the evaluation asks of a segmenter."""

    def segment_array(self, image: np.ndarray, boxes_px_xyxy: np.ndarray) -> Sequence[MaskResultLike]:
        """Segment one object per box in an (H, W, 3) or (H, W) uint8 image."""
        ...


#: Builds a segmenter from (engine name, weights path or None, device).
SegmenterFactory = Callable[[str, str | None, str], SegmenterLike]

#: Called after each image: (engine, image name, images done, images in all).
ProgressCallback = Callable[[str, str, int, int], None]


def default_segmenter_factory(engine: str, weights: str | None, device: str, **options: Any) -> SegmenterLike:
    """Build :class:`rossam_geo.api.Segmenter` (imported here so evaluation stays light).

    Args:
        options: further engine options, e.g. ``tta="flips"`` for a SAM-family engine.
    """
    from rossam_geo.api import Segmenter

    segmenter: SegmenterLike = Segmenter(engine=engine, weights=weights, device=device, **options)
    return segmenter


def engine_tta(segmenter: SegmenterLike) -> str | None:
    """The test-time augmentation of a segmenter's engine (none, flips, d8); None if it has none."""
    tta = getattr(getattr(segmenter, "engine", None), "tta", None)
    return tta if isinstance(tta, str) else None
