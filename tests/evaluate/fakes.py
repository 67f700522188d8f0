"""Generators of tiny evaluation test data: masks, COCO datasets, polygons on pixel edges."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from affine import Affine
from pycocotools import mask as mask_utils

#: 0.5 m pixels, upper-left corner at (500000 E, 5000000 N), UTM zone 33N.
UTM33 = "EPSG:32633"
UTM33_TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)


def rect_mask(shape: tuple[int, int], row0: int, col0: int, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask, True on rows [row0, row0+height) and columns [col0, col0+width)."""
    mask = np.zeros(shape, dtype=bool)
    mask[row0 : row0 + height, col0 : col0 + width] = True
    return mask


def rle_of(mask: np.ndarray) -> dict:
    """Compressed COCO RLE with str counts, as stored in JSON."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def write_coco_dataset(root: Path) -> dict:
    """Write a two-image COCO dataset (RGB 60x80 PNG and grayscale 50x50 PNG) under ``root``.

    Objects (ids): 11 = car 10x8 rectangle at row 5, col 6 in image 1 (RLE); 12 = ship 20x30 rectangle at
    row 30, col 40 in image 1 (polygon); 21 = ship 12x12 rectangle at row 20, col 20 in image 2 (RLE); 22 =
    a crowd region in image 2 (left out). Objects are drawn bright on a dark background.
    """
    (root / "images").mkdir(parents=True)
    rgb = np.full((60, 80, 3), 30, dtype=np.uint8)
    rgb[5:15, 6:14] = (230, 40, 40)
    rgb[30:50, 40:70] = (40, 220, 60)
    gray = np.full((50, 50), 20, dtype=np.uint8)
    gray[20:32, 20:32] = 240
    cv2.imwrite(str(root / "images" / "a.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "images" / "b.png"), gray)
    coco = {
        "images": [
            {"id": 1, "file_name": "images/a.png", "height": 60, "width": 80},
            {"id": 2, "file_name": "images/b.png", "height": 50, "width": 50},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "ship"}],
        "annotations": [
            {
                "id": 11,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": rle_of(rect_mask((60, 80), 5, 6, 10, 8)),
                "bbox": [6, 5, 8, 10],
                "area": 80,
            },
            {
                "id": 12,
                "image_id": 1,
                "category_id": 2,
                "iscrowd": 0,
                "segmentation": [[40, 30, 70, 30, 70, 50, 40, 50]],
                "bbox": [40, 30, 30, 20],
                "area": 600,
            },
            {
                "id": 21,
                "image_id": 2,
                "category_id": 2,
                "iscrowd": 0,
                "segmentation": rle_of(rect_mask((50, 50), 20, 20, 12, 12)),
                "bbox": [20, 20, 12, 12],
                "area": 144,
            },
            {
                "id": 22,
                "image_id": 2,
                "category_id": 2,
                "iscrowd": 1,
                "segmentation": rle_of(rect_mask((50, 50), 0, 0, 5, 5)),
                "bbox": [0, 0, 5, 5],
                "area": 25,
            },
        ],
    }
    (root / "annotations.json").write_text(json.dumps(coco))
    return coco


def pixel_rect_polygon(transform: Affine, row0: int, col0: int, height: int, width: int):
    """Shapely polygon of the pixel rectangle's outer edges, in the transform's CRS."""
    from shapely.geometry import box

    x0, y0 = transform @ (col0, row0)
    x1, y1 = transform @ (col0 + width, row0 + height)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def random_blobs(rng: np.random.Generator, shape: tuple[int, int], n: int) -> np.ndarray:
    """Random filled ellipses and rectangles, some crossing the image border."""
    canvas = np.zeros(shape, np.uint8)
    h, w = shape
    for _ in range(n):
        cx, cy = int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5))
        if rng.random() < 0.5:
            axes = (int(rng.integers(1, w // 3)), int(rng.integers(1, h // 3)))
            cv2.ellipse(canvas, (cx, cy), axes, float(rng.integers(0, 180)), 0, 360, 1, -1)
        else:
            cv2.rectangle(
                canvas, (cx, cy), (cx + int(rng.integers(0, 20)), cy + int(rng.integers(0, 3))), 1, -1
            )
    return canvas.astype(bool)
