"""Fit a score calibration for ROS-SAM weights on COCO datasets and write the weights with it.

For each test-time-augmentation mode, every dataset is segmented as ``rossam-geo evaluate --dataset`` does it
(ground-truth boxes and seeded boxes over background), each mask's quality features are recorded
(:mod:`rossam_geo.model.score_quality`), and a least-squares map from the features to the mask's IoU is
fitted (on the objects by default; ``--background-weight`` adds the background boxes with a target
of 0). The output file holds the same tensors with the calibration in its header::

    python scripts/calibrate_scores.py --weights IN.safetensors --dataset CAL_A --dataset CAL_B \\
        --out OUT.safetensors

Fit on datasets that are not the ones the calibrated scores are then judged on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

MODES = ("none", "flips", "d8")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from rossam_geo.evaluate.metrics import spearman_correlation

    value = spearman_correlation(a, b)
    return float("nan") if value is None else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights", type=Path, default=None, help="merged export or adapter (default: bundled)"
    )
    parser.add_argument("--dataset", type=Path, action="append", required=True, help="COCO dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="weights file to write")
    parser.add_argument("--modes", default=",".join(MODES), help="tta modes to calibrate, comma-separated")
    parser.add_argument(
        "--background-per-object", type=float, default=1.0, help="boxes over background per object (scored)"
    )
    parser.add_argument(
        "--background-weight",
        type=float,
        default=0.0,
        help="weight of background boxes in the fit (0: fit on objects only, report background scores)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the background boxes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    from rossam_geo.engines.sam import build_rossam_engine
    from rossam_geo.errors import RossamError
    from rossam_geo.evaluate.calibration import QualitySamples, collect_quality
    from rossam_geo.model.checkpoint import write_score_calibration
    from rossam_geo.model.compact import bundled_weights_path
    from rossam_geo.model.score_quality import FEATURE_NAMES, fit_calibration

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    source = args.weights or bundled_weights_path()
    try:
        if any(m not in MODES for m in modes):
            raise RossamError(f"--modes takes {', '.join(MODES)}, got {args.modes!r}")
        if source is None:
            raise RossamError("no --weights given and no bundled model in this installation")
        samples: list[QualitySamples] = []
        for mode in modes:
            engine = build_rossam_engine(source, device=args.device, tta=mode, device_resample=False)
            parts = [collect_quality(d, engine, args.background_per_object, args.seed) for d in args.dataset]
            samples.append(QualitySamples.concatenate(parts))
            got = samples[-1]
            print(f"{mode}: {len(got.target_iou)} prompts ({int(got.background.sum())} over background)")
        names = ", ".join(str(d) for d in args.dataset)
        calibration = fit_calibration(
            [s.features for s in samples],
            [s.target_iou for s in samples],
            modes,
            row_weights=[np.where(s.background, args.background_weight, 1.0) for s in samples],
            source=(
                f"least squares on {names} (background boxes per object {args.background_per_object:g}, "
                f"weight {args.background_weight:g}, seed {args.seed}), {Path(source).name}"
            ),
        )
        for mode, s in zip(modes, samples, strict=True):
            objects = ~s.background
            head = s.features[objects, FEATURE_NAMES.index("head")]
            fitted = calibration.apply(s.features, mode)
            background = f", background {fitted[s.background].mean():.3f}" if s.background.any() else ""
            print(
                f"{mode}: Spearman on the fit objects, head {spearman(head, s.target_iou[objects]):.3f}, "
                f"calibrated {spearman(fitted[objects], s.target_iou[objects]):.3f}; mean score objects "
                f"{fitted[objects].mean():.3f}{background}"
            )
            print(f"  bias {calibration.bias[mode]:+.4f}, weights {calibration.weights[mode]}")
        out = write_score_calibration(source, args.out, calibration, overwrite=args.overwrite)
    except RossamError as exc:
        sys.exit(f"error: {exc}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
