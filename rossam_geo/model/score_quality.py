"""Quality features of a predicted mask, and the calibration that turns them into a predicted IoU.

The IoU head of a SAM-family network predicts the IoU of its mask from the decoder's IoU token alone. The
engine can also see how the mask behaves: whether it holds when the logit threshold moves (SAM's stability
score), whether the test-time-augmentation variants agree, and how it sits in the prompt box. A
:class:`ScoreCalibration` stored with a model's weights maps these features to the ``score`` it reports;
models without one report the IoU head's output, clamped to [0, 1].

Features, per prompt (columns of :func:`quality_features`, in :data:`FEATURE_NAMES` order):

* ``head``: the IoU head's output, averaged over the test-time-augmentation variants (not clamped);
* ``stability``: ``|logits > +1| / |logits > -1|`` of the merged logits (0 for an empty mask);
* ``agreement``: mean IoU of each variant's mask with the merged mask (1 without test-time augmentation);
* ``box_fill``: the fraction of the prompt box's pixels inside the mask;
* ``outside_box``: the fraction of the mask's pixels outside the prompt box (0 for an empty mask).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rossam_geo.errors import CheckpointError

FEATURE_NAMES: tuple[str, ...] = ("head", "stability", "agreement", "box_fill", "outside_box")
#: logit offset of the stability feature (SAM's ``stability_score_offset``).
STABILITY_OFFSET = 1.0


def _box_masks(boxes_px_xyxy: np.ndarray, size_px: int) -> np.ndarray:
    """(N, 4) XYXY boxes in pixel-edge coordinates -> (N, S, S) bool: pixels whose centre is in the box."""
    centres = np.arange(size_px) + 0.5
    boxes = np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4)
    in_x = (centres[None, :] >= boxes[:, 0:1]) & (centres[None, :] < boxes[:, 2:3])
    in_y = (centres[None, :] >= boxes[:, 1:2]) & (centres[None, :] < boxes[:, 3:4])
    return in_y[:, :, None] & in_x[:, None, :]


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    safe = np.maximum(denominator, 1)
    return np.where(denominator > 0, numerator / safe, empty)


def quality_features(
    variant_logits: np.ndarray,
    variant_head: np.ndarray,
    merged_logits: np.ndarray,
    boxes_px_xyxy: np.ndarray,
) -> np.ndarray:
    """The quality features of N masks.

    Args:
        variant_logits: (T, N, S, S) mask logits of the T test-time-augmentation variants, each mapped back to
            the model-input frame (T = 1 without augmentation).
        variant_head: (T, N) IoU-head outputs of the variants.
        merged_logits: (N, S, S) the logits the engine reports (the variants' mean).
        boxes_px_xyxy: (N, 4) prompt boxes in model-input pixels.

    Returns:
        (N, F) float64 features, columns in :data:`FEATURE_NAMES` order.
    """
    merged = merged_logits > 0
    area = merged.sum(axis=(1, 2)).astype(np.float64)
    inner = (merged_logits > STABILITY_OFFSET).sum(axis=(1, 2))
    outer = (merged_logits > -STABILITY_OFFSET).sum(axis=(1, 2))
    variants = variant_logits > 0
    intersections = (variants & merged[None]).sum(axis=(2, 3))
    unions = (variants | merged[None]).sum(axis=(2, 3))
    agreement = _ratio(intersections, unions, 1.0).mean(axis=0)
    in_box = _box_masks(boxes_px_xyxy, merged_logits.shape[-1])
    box_area = in_box.sum(axis=(1, 2))
    inside = (merged & in_box).sum(axis=(1, 2))
    columns = (
        np.asarray(variant_head, dtype=np.float64).mean(axis=0),
        _ratio(inner, outer, 0.0),
        agreement,
        _ratio(inside, box_area, 0.0),
        _ratio(area - inside, area, 0.0),
    )
    return np.stack(columns, axis=1).astype(np.float64)


@dataclass(frozen=True)
class ScoreCalibration:
    """A linear map from quality features to a predicted IoU, one per test-time-augmentation mode.

    ``score = clip(bias + weights . features, 0, 1)`` with the weights of the engine's mode.

    Attributes:
        weights: tta mode (``"none"``, ``"flips"``, ``"d8"``) -> ``{feature name: weight}``.
        bias: tta mode -> intercept.
        source: how it was fitted (data and command), for the model card.
    """

    weights: Mapping[str, Mapping[str, float]]
    bias: Mapping[str, float]
    source: str = ""

    def covers(self, tta: str) -> bool:
        """Whether the calibration has a map for this test-time-augmentation mode."""
        return tta in self.weights and tta in self.bias

    def apply(self, features: np.ndarray, tta: str) -> np.ndarray:
        """(N, F) features (:func:`quality_features`) -> (N,) float32 scores in [0, 1]."""
        weights = np.array([self.weights[tta].get(name, 0.0) for name in FEATURE_NAMES], dtype=np.float64)
        raw = (
            self.bias[tta] + np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)) @ weights
        )
        return np.clip(raw, 0.0, 1.0).astype(np.float32)

    def to_json(self) -> str:
        """The calibration as the JSON string stored in a weights file's metadata."""
        return json.dumps(
            {
                "features": list(FEATURE_NAMES),
                "weights": self.weights,
                "bias": self.bias,
                "source": self.source,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ScoreCalibration:
        """Read :meth:`to_json`'s string.

        Raises:
            CheckpointError: not valid JSON, unknown feature names, or a mode without its bias.
        """
        try:
            data: Any = json.loads(text)
            weights = {str(m): {str(k): float(v) for k, v in w.items()} for m, w in data["weights"].items()}
            bias = {str(m): float(v) for m, v in data["bias"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"unreadable score calibration in the weights' metadata: {exc}") from exc
        unknown = sorted({k for w in weights.values() for k in w} - set(FEATURE_NAMES))
        if unknown or set(weights) != set(bias):
            raise CheckpointError(
                f"the score calibration in the weights' metadata has unknown features {unknown} or modes "
                f"without a bias; re-export the weights with this version of rossam-geo"
            )
        return cls(weights=weights, bias=bias, source=str(data.get("source", "")))


def fit_calibration(
    features: Sequence[np.ndarray],
    targets_iou: Sequence[np.ndarray],
    modes: Sequence[str],
    source: str = "",
    row_weights: Sequence[np.ndarray] | None = None,
) -> ScoreCalibration:
    """Weighted least-squares fit of one linear map per mode.

    Args:
        features: per mode, (M, F) features of M prompts.
        targets_iou: per mode, (M,) IoU of each prompt's mask with its ground truth (0 for prompts over
            background).
        modes: the tta mode of each entry.
        source: recorded in :attr:`ScoreCalibration.source`.
        row_weights: per mode, (M,) non-negative weight of each prompt in the fit; None: all 1.
    """
    weights: dict[str, dict[str, float]] = {}
    bias: dict[str, float] = {}
    weights_per_mode = row_weights if row_weights is not None else [np.ones(len(x)) for x in features]
    for x, y, w, mode in zip(features, targets_iou, weights_per_mode, modes, strict=True):
        # Without variants the agreement is a constant 1: it gets no weight.
        used = [n for n in FEATURE_NAMES if not (mode == "none" and n == "agreement")]
        columns = np.asarray(x, dtype=np.float64)[:, [FEATURE_NAMES.index(n) for n in used]]
        root_w = np.sqrt(np.asarray(w, dtype=np.float64))
        design = np.column_stack([np.ones(len(columns)), columns]) * root_w[:, None]
        coef, *_ = np.linalg.lstsq(design, np.asarray(y, dtype=np.float64) * root_w, rcond=None)
        bias[mode] = float(coef[0])
        fitted = dict(zip(used, (float(c) for c in coef[1:]), strict=True))
        weights[mode] = {name: fitted.get(name, 0.0) for name in FEATURE_NAMES}
    return ScoreCalibration(weights=weights, bias=bias, source=source)
