"""Seeded generators of tiny training data: coloured shapes on textured backgrounds, written as COCO,
SAT-MTB folders, or a georeferenced GeoTIFF with GeoPackage labels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

SHAPE_CLASSES = ("airplane", "ship", "car", "train")


def draw_shape(rng: np.random.Generator, size: int, kind: str, min_px: int, max_px: int) -> np.ndarray:
    """One (size, size) bool mask: an ellipse, a rotated rectangle or a plane-like cross."""
    mask = np.zeros((size, size), dtype=np.uint8)
    half = rng.uniform(min_px, max_px) / 2
    cx, cy = rng.uniform(half + 2, size - half - 2, size=2)
    angle = rng.uniform(0, 180)
    if kind == "ship":
        axes = (int(half), int(max(3, half * rng.uniform(0.3, 0.6))))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, angle, 0, 360, 1, -1)
    elif kind == "car":
        rect = ((cx, cy), (2 * half, 2 * half * rng.uniform(0.4, 0.8)), angle)
        cv2.fillPoly(mask, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1)
    else:  # airplane: fuselage plus wings
        for length, width in ((2 * half, half * 0.35), (1.6 * half, half * 0.3)):
            rect = ((cx, cy), (length, width), angle)
            cv2.fillPoly(mask, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1)
            angle += 90
    return mask.astype(bool)


def shapes_image(
    rng: np.random.Generator, size: int = 128, n_objects: int = 2, min_px: int = 28, max_px: int = 56
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A textured background with ``n_objects`` non-overlapping shapes in random saturated colours.

    Returns:
        image (size, size, 3) uint8, masks (N, size, size) bool, classes.
    """
    base = rng.integers(40, 200, size=3)
    texture = cv2.GaussianBlur(rng.normal(0, 18, size=(size, size, 3)).astype(np.float32), (0, 0), 2)
    image = np.clip(base + texture, 0, 255)
    masks: list[np.ndarray] = []
    classes: list[str] = []
    occupied = np.zeros((size, size), dtype=bool)
    for _ in range(50):
        if len(masks) == n_objects:
            break
        kind = SHAPE_CLASSES[int(rng.integers(3))]
        mask = draw_shape(rng, size, kind, min_px, max_px)
        if (mask & cv2.dilate(occupied.astype(np.uint8), np.ones((5, 5))).astype(bool)).any():
            continue
        colour = (base + rng.choice([-1, 1], size=3) * rng.integers(70, 120, size=3)) % 256
        image[mask] = colour + rng.normal(0, 6, size=(int(mask.sum()), 3))
        occupied |= mask
        masks.append(mask)
        classes.append(kind)
    return np.clip(image, 0, 255).astype(np.uint8), np.stack(masks), classes


def write_coco(
    folder: Path,
    n_images: int,
    seed: int = 0,
    size: int = 128,
    n_objects: int = 2,
    polygons: bool = False,
    min_px: int = 28,
    max_px: int = 56,
    blocky: bool = False,
    bright: bool = False,
) -> Path:
    """Write ``folder/images/*.png`` and ``folder/annotations.json`` (RLE masks, or polygons); ``blocky``
    draws :func:`blocky_shapes_image` shapes instead of :func:`shapes_image` ones."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(n_images):
        if blocky:
            image, masks, classes = blocky_shapes_image(rng, size, 16, n_objects, bright)
        else:
            image, masks, classes = shapes_image(rng, size, n_objects, min_px, max_px)
        name = f"images/img{i:03d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        images.append({"id": i + 1, "file_name": name, "height": size, "width": size})
        for mask, cls in zip(masks, classes, strict=True):
            if polygons:
                contours, _ = cv2.findContours(
                    mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
                )
                segmentation: object = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
            else:
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                segmentation = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            ys, xs = np.nonzero(mask)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": SHAPE_CLASSES.index(cls) + 1,
                    "iscrowd": 0,
                    "segmentation": segmentation,
                    "area": float(mask.sum()),
                    "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
                }
            )
    categories = [{"id": k + 1, "name": name.capitalize()} for k, name in enumerate(SHAPE_CLASSES)]
    path = folder / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def blocky_shapes_image(
    rng: np.random.Generator, size: int = 128, cell_px: int = 16, n_objects: int = 2, bright: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Shapes built from ``cell_px`` grid cells (plane-like crosses, bars, L shapes) on a textured background.

    With ``cell_px`` equal to the model's patch size every patch is wholly inside or outside an object, so a
    tiny model whose frozen patch embedding is random can still delineate objects exactly: an easy task that
    still needs the image, since the shape inside a box varies. ``bright``: light objects (random tint) on a
    dark background, so that brightness alone tells object from background.

    Returns:
        image (size, size, 3) uint8, masks (N, size, size) bool, classes.
    """
    cells = size // cell_px
    base = rng.integers(20, 80, size=3) if bright else rng.integers(40, 200, size=3)
    texture = cv2.GaussianBlur(rng.normal(0, 18, size=(size, size, 3)).astype(np.float32), (0, 0), 2)
    image = np.clip(base + texture, 0, 255)
    occupied = np.zeros((cells, cells), dtype=bool)
    masks: list[np.ndarray] = []
    classes: list[str] = []
    for _ in range(100):
        if len(masks) == n_objects:
            break
        grid = np.zeros((cells, cells), dtype=bool)
        kind = ("airplane", "ship", "train")[int(rng.integers(3))]
        if kind == "airplane":  # a cross: fuselage and wings
            length, span = int(rng.integers(3, 6)), int(rng.integers(3, 6))
            r0, c0 = int(rng.integers(0, cells - length + 1)), int(rng.integers(0, cells - span + 1))
            grid[r0 : r0 + length, c0 + span // 2] = True
            grid[r0 + int(rng.integers(0, length)), c0 : c0 + span] = True
        elif kind == "ship":  # a bar, one or two cells wide
            length, width = int(rng.integers(3, 6)), int(rng.integers(1, 3))
            r0, c0 = int(rng.integers(0, cells - length + 1)), int(rng.integers(0, cells - width + 1))
            grid[r0 : r0 + length, c0 : c0 + width] = True
        else:  # an L-shaped train
            a, b = int(rng.integers(2, 5)), int(rng.integers(2, 5))
            r0, c0 = int(rng.integers(0, cells - a + 1)), int(rng.integers(0, cells - b + 1))
            grid[r0 : r0 + a, c0] = True
            grid[r0 + a - 1, c0 : c0 + b] = True
        if rng.random() < 0.5:
            grid = grid.T
        grown = cv2.dilate(occupied.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if (grid & grown).any():
            continue
        occupied |= grid
        mask = np.kron(grid, np.ones((cell_px, cell_px), dtype=bool))
        if bright:
            colour = rng.integers(170, 256, size=3)
        else:
            colour = (base + rng.choice([-1, 1], size=3) * rng.integers(70, 120, size=3)) % 256
        image[mask] = colour + rng.normal(0, 6, size=(int(mask.sum()), 3))
        masks.append(mask)
        classes.append(kind)
    return np.clip(image, 0, 255).astype(np.uint8), np.stack(masks), classes
