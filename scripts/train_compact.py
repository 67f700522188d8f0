"""Generate the synthetic training scenes and train the bundled compact model (``rossam-compact-v3``).

One command, from the repository root::

    python scripts/train_compact.py --work-dir /tmp/compact --minutes 35

writes ``WORK_DIR/data`` (COCO dataset), ``WORK_DIR/rossam-compact-v3.safetensors`` and a run summary, and
with ``--install`` copies the weights and the model card JSON into ``rossam_geo/data/``.

With ``--out-dir`` (or ``--recipe v4``) the command runs the GPU recipe of ``rossam-compact-v4`` instead
(scenes streamed from CPU workers; see ``scripts/train_compact_v4.py`` for its options)::

    python scripts/train_compact.py --device cuda --seconds 240 --out-dir DIR --workers 12 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Permissively licensed background rasters (CC0, MIT, Apache-2.0).
BACKGROUND_RASTERS = ("RGB.byte.tif", "OSBS_029.tif", "sample_geotiff.tif")


def main() -> None:
    if (
        any(a == "--out-dir" or a.startswith("--out-dir=") for a in sys.argv[1:])
        or "--recipe" in sys.argv[1:]
    ):
        from train_compact_v4 import main as main_v4  # the script's own folder is on sys.path

        main_v4()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/rossam-compact"))
    parser.add_argument("--rasters-dir", type=Path, default=REPO.parent / "shared" / "data" / "geo")
    parser.add_argument("--scenes", type=int, default=1200)
    parser.add_argument("--scene-size", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=40.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="peak AdamW learning rate (cosine over the run)"
    )
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        help="start from this merged compact export instead of a random initialisation",
    )
    parser.add_argument(
        "--iou-loss-weight", type=float, default=1.0, help="weight of the IoU-head loss (0: head untrained)"
    )
    parser.add_argument(
        "--iou-head-only",
        action="store_true",
        help="train only the IoU heads of --init-weights (masks stay bit-identical)",
    )
    parser.add_argument(
        "--background-boxes", type=int, default=0, help="prompt boxes over background per crop (empty target)"
    )
    parser.add_argument("--install", action="store_true", help="copy the result into rossam_geo/data/")
    args = parser.parse_args()

    from rossam_geo.io.atomic import atomic_path
    from rossam_geo.model.compact import COMPACT_MODEL_NAME
    from rossam_geo.synth import write_coco_dataset
    from rossam_geo.synth.recipe import CompactTrainSettings, train_compact

    rasters = [args.rasters_dir / name for name in BACKGROUND_RASTERS if (args.rasters_dir / name).is_file()]
    data_dir = args.work_dir / "data"
    t0 = time.monotonic()
    ann = data_dir / "annotations.json"
    if not ann.is_file():
        write_coco_dataset(
            data_dir, args.scenes, seed=args.seed, size_px=args.scene_size, background_rasters=rasters
        )
    gen_minutes = (time.monotonic() - t0) / 60.0
    print(f"dataset ready in {gen_minutes:.1f} min: {ann}", flush=True)
    weights = args.work_dir / f"{COMPACT_MODEL_NAME}.safetensors"
    settings = CompactTrainSettings(
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        iou_loss_weight=args.iou_loss_weight,
        iou_head_only=args.iou_head_only,
        background_boxes=args.background_boxes,
    )
    model = None
    if args.init_weights is not None:
        from rossam_geo.model.checkpoint import load_merged

        model = load_merged(args.init_weights)
    summary = train_compact(ann, weights, settings, log=lambda line: print(line, flush=True), model=model)
    card = {
        "name": COMPACT_MODEL_NAME,
        "weights": weights.name,
        "architecture": "ROS-SAM compact (see rossam_geo.model.compact)",
        "training_data": {
            "generator": "rossam_geo.synth",
            "scenes": args.scenes,
            "scene_size_px": args.scene_size,
            "seed": args.seed,
            "background_rasters": [p.name for p in rasters],
        },
        "initialisation": "random" if args.init_weights is None else args.init_weights.name,
        "generation_minutes": round(gen_minutes, 2),
        **summary,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "command": "python scripts/train_compact.py "
        + " ".join(
            f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k != "install" and v is not None and v is not False
        ),
    }
    card_path = args.work_dir / f"{COMPACT_MODEL_NAME}.json"
    card_path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    if args.install:
        target = REPO / "rossam_geo" / "data"
        target.mkdir(exist_ok=True)
        for src in (weights, card_path):
            with atomic_path(target / src.name) as tmp:  # a normal file's mode, not a temporary file's 0600
                shutil.copyfile(src, tmp)
        print(f"installed into {target}", flush=True)


if __name__ == "__main__":
    main()
