"""Write generated scenes as a COCO instance dataset (PNG images, RLE masks) that `rossam-geo train` reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rossam_geo.errors import OutputExistsError
from rossam_geo.io import write_image_rgb, write_text_atomic
from rossam_geo.synth.scene import CATEGORIES, generate_scene

ANNOTATIONS_FILE = "annotations.json"


def mask_to_rle(mask: np.ndarray) -> dict[str, object]:
    """COCO RLE (``{"size": [h, w], "counts": str}``) of an (H, W) bool mask."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def write_coco_dataset(
    out_dir: str | Path,
    num_scenes: int,
    *,
    seed: int = 0,
    size_px: int = 256,
    background_rasters: Sequence[str | Path] = (),
    overwrite: bool = False,
    generator: str = "v3",
) -> Path:
    """Generate ``num_scenes`` scenes into ``out_dir/images/*.png`` and ``out_dir/annotations.json``.

    Scene ``i`` is :func:`~rossam_geo.synth.scene.generate_scene` with seed ``(seed, i)``, so a dataset is
    reproducible and any scene can be regenerated alone. Scenes where no object fitted are left out. The JSON
    is written last and atomically: a dataset with an annotations file is complete.

    Args:
        out_dir: output folder (created).
        num_scenes: scenes to generate.
        seed: dataset seed.
        size_px: scene side in pixels.
        background_rasters: permissively licensed rasters usable as backgrounds.
        overwrite: replace an existing annotations file.
        generator: scene generator (:data:`rossam_geo.synth.scene.GENERATORS`).

    Returns:
        Path of the annotations JSON.

    Raises:
        OutputExistsError: the annotations file exists and ``overwrite`` is False.
    """
    out = Path(out_dir)
    ann_path = out / ANNOTATIONS_FILE
    if ann_path.exists() and not overwrite:
        raise OutputExistsError(
            f"{ann_path} already exists; pass overwrite=True (--overwrite) to regenerate it"
        )
    (out / "images").mkdir(parents=True, exist_ok=True)
    cat_ids = {name: i + 1 for i, name in enumerate(CATEGORIES)}
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    for i in range(num_scenes):
        scene = generate_scene(
            (seed, i), size_px=size_px, background_rasters=background_rasters, generator=generator
        )
        if not scene.classes:
            continue
        name = f"images/synth_{seed}_{i:06d}.png"
        write_image_rgb(out / name, scene.image_rgb)
        image_id = len(images) + 1
        images.append(
            {"id": image_id, "file_name": name, "width": size_px, "height": size_px, "kind": scene.kind}
        )
        for mask, cls, box in zip(scene.masks, scene.classes, scene.boxes_px_xyxy, strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cat_ids[cls],
                    "segmentation": mask_to_rle(mask),
                    "area": int(mask.sum()),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                }
            )
    payload = {
        "info": {"description": "rossam_geo synthetic scenes", "seed": seed, "num_scenes": num_scenes},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for n, i in cat_ids.items()],
    }
    write_text_atomic(ann_path, json.dumps(payload))
    return ann_path
