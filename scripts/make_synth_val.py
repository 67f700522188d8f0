"""Write a synthetic validation set (COCO folder) for ``rossam-geo evaluate --dataset``.

The two sets of the compact models' shipping rule (``docs/model_card.md``), with the permissive background
rasters of the shared data folder::

    python scripts/make_synth_val.py --generator v3 --size 192 --out DIR_V3   # rossam-compact-v3's set
    python scripts/make_synth_val.py --generator v4 --size 256 --out DIR_V4

Both use seed 7 and 80 scenes (scene ``i`` is seeded ``(7, i)``: never a training scene of either recipe).
The ``v3`` set is byte-identical to the one v3 was chosen on (741 objects) when the rasters are present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKGROUND_RASTERS = ("RGB.byte.tif", "OSBS_029.tif", "sample_geotiff.tif")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--generator", default="v3", help="scene generator: v3 or v4")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenes", type=int, default=80)
    parser.add_argument("--size", type=int, default=192, help="scene side in pixels")
    parser.add_argument("--rasters-dir", type=Path, default=REPO.parent / "shared" / "data" / "geo")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    from rossam_geo.errors import RossamError
    from rossam_geo.synth import write_coco_dataset

    rasters = [args.rasters_dir / n for n in BACKGROUND_RASTERS if (args.rasters_dir / n).is_file()]
    try:
        path = write_coco_dataset(
            args.out,
            args.scenes,
            seed=args.seed,
            size_px=args.size,
            background_rasters=rasters,
            overwrite=args.overwrite,
            generator=args.generator,
        )
    except RossamError as exc:
        sys.exit(f"error: {exc}")
    data = json.loads(path.read_text(encoding="utf-8"))
    print(
        f"{path}: {len(data['images'])} images, {len(data['annotations'])} objects "
        f"(generator {args.generator}, seed {args.seed}, {args.size} px, rasters {[p.name for p in rasters]})"
    )


if __name__ == "__main__":
    main()
