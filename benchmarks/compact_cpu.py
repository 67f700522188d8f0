"""Time per box of the compact networks on ONE CPU thread with their default test-time augmentation.

rossam-compact-v3 (``COMPACT_CONFIG``) and rossam-compact-v4 (``COMPACT_V4_CONFIG``) with random weights
(timing does not depend on them) segment the same boxes through ``Segmenter.segment_array`` (2x crops,
8-pass ``d8`` TTA, HQ decoder, paste-back), interleaved round by round so that load on a shared machine hits
both alike. Prints the median ms per box of each, their ratio, and v4's time scaled to v3's model-card time
(79.8 ms on an idle machine), which takes a busy machine's load out; the budget of a bundled model is 150 ms.

    OMP_NUM_THREADS=1 python benchmarks/compact_cpu.py [--boxes 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from rossam_geo.api import Segmenter
from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.model.build import RosSamConfig, build_rossam
from rossam_geo.model.compact import COMPACT_CONFIG, COMPACT_V4_CONFIG

BUDGET_MS_PER_BOX = 150.0
#: v3's time per box with d8 in its model card (README main command, idle machine, 1 thread).
V3_CARD_MS_PER_BOX = 79.8


def boxes_on_image(n_boxes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 600 px noise image and ``n_boxes`` vehicle-sized boxes (8-40 px sides) on it."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (600, 600, 3), dtype=np.uint8)
    xy = rng.uniform(50, 500, (n_boxes, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(8, 40, (n_boxes, 2))], axis=1)
    return image, boxes


def segmenter(config: RosSamConfig) -> Segmenter:
    """A CPU ``rossam`` engine of ``config`` with random weights and the default TTA."""
    torch.manual_seed(0)
    return Segmenter(build_rossam_engine(model=build_rossam(config, lora_rank=0), device="cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=16, help="boxes per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per model (median reported)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    image, boxes = boxes_on_image(args.boxes)
    models = {"rossam-compact-v3": COMPACT_CONFIG, "rossam-compact-v4": COMPACT_V4_CONFIG}
    segmenters = {name: segmenter(cfg) for name, cfg in models.items()}
    for seg in segmenters.values():  # warm-up
        seg.segment_array(image, boxes[:2])
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, seg in segmenters.items():
            start = time.perf_counter()
            seg.segment_array(image, boxes)
            times[name].append(1000.0 * (time.perf_counter() - start) / len(boxes))
    load = os.getloadavg()[0]
    print(f"1 torch thread, {os.cpu_count()} logical CPUs, 1-min load {load:.1f}, torch {torch.__version__}")
    print(f"{args.boxes} boxes x {args.rounds} rounds, default TTA (d8), HQ mode, random weights")
    for name in models:
        params = sum(p.numel() for p in segmenters[name].engine.model.parameters())  # type: ignore[attr-defined]
        median = statistics.median(times[name])
        print(
            f"{name:18s} {params / 1e6:5.2f} M parameters, {4 * params / 2**20:5.1f} MiB fp32: "
            f"{median:6.1f} ms per box (budget {BUDGET_MS_PER_BOX:.0f})"
        )
    ratio = statistics.median(times["rossam-compact-v4"]) / statistics.median(times["rossam-compact-v3"])
    print(f"v4 / v3 time per box: {ratio:.2f}")
    print(
        f"v4 at v3's model-card speed ({V3_CARD_MS_PER_BOX} ms per box; takes out this machine's load): "
        f"{ratio * V3_CARD_MS_PER_BOX:.1f} ms per box (budget {BUDGET_MS_PER_BOX:.0f})"
    )


if __name__ == "__main__":
    main()
