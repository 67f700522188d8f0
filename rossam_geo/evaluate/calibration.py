"""Quality features and IoU of every prompt of a COCO dataset: the samples a score calibration is fitted on.

The dataset is segmented as ``rossam-geo evaluate --dataset`` does it (ground-truth boxes, plus seeded boxes
over background), through a SAM-family engine that also returns each mask's quality features
(:meth:`rossam_geo.engines.sam_family.SamFamilyEngine.predict_quality`). Objects get their IoU with the ground
truth as target, boxes over background a target of 0. :func:`rossam_geo.model.score_quality.fit_calibration`
then fits the map, and :func:`rossam_geo.model.checkpoint.write_score_calibration` stores it with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.engines.base import EnginePrediction
from rossam_geo.errors import InputError
from rossam_geo.evaluate.dataset import evaluate_dataset
from rossam_geo.model.score_quality import FEATURE_NAMES

if TYPE_CHECKING:
    from rossam_geo.engines.sam_family import SamFamilyEngine


@dataclass(frozen=True)
class QualitySamples:
    """Prompts of a dataset with their quality features and target IoU.

    Attributes:
        features: (M, F) quality features, columns in :data:`~rossam_geo.model.score_quality.FEATURE_NAMES`.
        target_iou: (M,) IoU of each prompt's mask with its ground truth; 0 for boxes over background.
        background: (M,) bool, whether the prompt was a box over background.
    """

    features: np.ndarray
    target_iou: np.ndarray
    background: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[QualitySamples]) -> QualitySamples:
        """The samples of several datasets together."""
        return cls(
            np.concatenate([p.features for p in parts]).reshape(-1, len(FEATURE_NAMES)),
            np.concatenate([p.target_iou for p in parts]),
            np.concatenate([p.background for p in parts]).astype(bool),
        )


class _QualityProbe:
    """An engine that runs a SAM-family engine and records each mask's quality features in :attr:`rows`.

    Its score for an object is the index of that object's row, so that the evaluation's matching of
    predictions to ground truth carries the row to the object.
    """

    takes_windows = False

    def __init__(self, engine: SamFamilyEngine) -> None:
        self._engine = engine
        self.rows: list[np.ndarray] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def predict(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> EnginePrediction:
        prediction, features = self._engine.predict_quality(
            images_rgb_u8, boxes_px_xyxy, points_px_xy, point_labels
        )
        first = len(self.rows)
        self.rows.extend(features)
        rows = np.arange(first, first + len(features), dtype=np.float32)
        return EnginePrediction(prediction.mask_logits, rows)


def collect_quality(
    root: str | Path, engine: SamFamilyEngine, background_per_object: float = 1.0, seed: int = 0
) -> QualitySamples:
    """Segment a COCO dataset folder's objects and background boxes; return their features and targets.

    Args:
        root: dataset folder (``annotations.json`` + images, as for ``rossam-geo evaluate --dataset``).
        engine: a SAM-family engine (its tta mode is the one the samples describe); it must run
            :meth:`predict`, not the device-resampling path.
        background_per_object: boxes over background drawn per ground-truth object (seeded by ``seed``).
        seed: seed of the background boxes.

    Raises:
        InputError: a negative ``background_per_object``, no usable object, or an engine that is not of the
            SAM family.
    """
    from rossam_geo.api import Segmenter
    from rossam_geo.evaluate.dataset import load_coco_dataset

    if background_per_object < 0:
        raise InputError(f"background boxes per object must be >= 0, got {background_per_object}")
    if not hasattr(engine, "predict_quality"):
        raise InputError(f"the {engine.name} engine has no quality features; calibrate a SAM-family engine")
    probe = _QualityProbe(engine)
    n_objects = len(load_coco_dataset(root).gt.objects)
    evaluation = evaluate_dataset(
        root,
        [engine.name],
        device=str(engine.device),
        segmenter_factory=lambda _name, _weights, _device: Segmenter(engine=probe),  # type: ignore[arg-type]
        background_boxes=round(background_per_object * n_objects),
        background_seed=seed,
    )
    report = evaluation.report["engines"][engine.name]
    rows = np.asarray(probe.rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    objects = [o for o in report["objects"] if o.get("score") is not None and o.get("iou") is not None]
    if not objects:
        raise InputError(f"no object of {root} was segmented; check the dataset with rossam-geo evaluate")
    background = [b for b in report.get("background", {}).get("boxes", []) if b.get("score") is not None]
    indices = [int(o["score"]) for o in objects] + [int(b["score"]) for b in background]
    return QualitySamples(
        features=rows[indices],
        target_iou=np.array([float(o["iou"]) for o in objects] + [0.0] * len(background)),
        background=np.array([False] * len(objects) + [True] * len(background)),
    )
