"""Training augmentations on samples: large-scale jitter, rotation, photometric jitter, box-prompt noise.

A sample is a dict (see :class:`Sample`): ``image`` (H, W, 3) uint8 RGB, ``masks`` (N, H, W) bool,
``boxes`` (N, 4) float64 XYXY pixels, ``classes`` list of N names. Pixel (0, 0) covers [0, 1) x [0, 1), so the
tight box of a mask spans from its first occupied column/row to one past its last (``x1 = max col + 1``).

Every geometric transform warps the image (bilinear, padded with SAM's mean colour) and each mask
(``masks`` resampled and thresholded at one half), then recomputes the boxes from the warped masks and drops
objects left with no pixel, so boxes always enclose their masks exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypedDict

import cv2
import numpy as np

#: SAM's mean colour (RGB, 0-255): the padding value, which normalises to zero in the model.
PAD_RGB: tuple[int, int, int] = (124, 116, 104)


class Sample(TypedDict, total=False):
    """One training image with its objects.

    Keys:
        image: (H, W, 3) uint8 RGB.
        masks: (N, H, W) bool, one mask per object.
        boxes: (N, 4) float64 XYXY pixels, the tight box of each mask.
        classes: N class names.
        prompt_boxes: (N, 4) float64 XYXY pixels, the box prompts (``boxes`` with optional noise).
        image_id: source identifier (file name, chip position), for logs.
    """

    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    classes: list[str]
    prompt_boxes: np.ndarray
    image_id: str


def masks_to_boxes_xyxy(masks: np.ndarray) -> np.ndarray:
    """Tight boxes of masks.

    Args:
        masks: (N, H, W) bool.

    Returns:
        (N, 4) float64 XYXY pixels, ``[min col, min row, max col + 1, max row + 1]``; all zeros for an empty
        mask.
    """
    n = masks.shape[0]
    boxes = np.zeros((n, 4), dtype=np.float64)
    if n == 0:
        return boxes
    cols: np.ndarray = np.any(masks, axis=1)  # (N, W)
    rows: np.ndarray = np.any(masks, axis=2)  # (N, H)
    nonempty = np.any(cols, axis=1)
    width, height = masks.shape[2], masks.shape[1]
    x0 = cols.argmax(axis=1)
    x1 = width - cols[:, ::-1].argmax(axis=1)
    y0 = rows.argmax(axis=1)
    y1 = height - rows[:, ::-1].argmax(axis=1)
    boxes[nonempty] = np.stack([x0, y0, x1, y1], axis=1)[nonempty]
    return boxes


def select_objects(sample: Sample, keep: np.ndarray | np.bool_) -> Sample:
    """A copy of ``sample`` with only the objects where ``keep`` (N,) bool is true."""
    out: Sample = dict(sample)  # type: ignore[assignment]
    idx = np.flatnonzero(keep)
    out["masks"] = sample["masks"][idx]
    out["boxes"] = sample["boxes"][idx]
    out["classes"] = [sample["classes"][i] for i in idx]
    if "prompt_boxes" in sample:
        out["prompt_boxes"] = sample["prompt_boxes"][idx]
    return out


def with_tight_boxes(sample: Sample) -> Sample:
    """Recompute ``boxes`` from ``masks`` and drop objects whose mask is empty."""
    out: Sample = dict(sample)  # type: ignore[assignment]
    out.pop("prompt_boxes", None)
    out["boxes"] = masks_to_boxes_xyxy(sample["masks"])
    return select_objects(out, sample["masks"].any(axis=(1, 2)))


def _warp_masks(masks: np.ndarray, matrix: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Warp (N, H, W) bool masks by a 2x3 affine into ``size_wh`` (bilinear, thresholded at one half)."""
    out = np.zeros((masks.shape[0], size_wh[1], size_wh[0]), dtype=bool)
    for i, mask in enumerate(masks):
        m = mask.astype(np.uint8) * 255
        warped = cv2.warpAffine(m, matrix, size_wh, flags=cv2.INTER_LINEAR, borderValue=0)
        out[i] = warped >= 128
    return out


def resize_masks(masks: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resize (N, H, W) bool masks to ``size_wh`` (width, height).

    Area averaging when shrinking, bilinear when enlarging, thresholded at one half, so areas scale with the
    square of the factor.
    """
    out = np.zeros((masks.shape[0], size_wh[1], size_wh[0]), dtype=bool)
    shrinking = size_wh[0] < masks.shape[2]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    for i, mask in enumerate(masks):
        out[i] = cv2.resize(mask.astype(np.uint8) * 255, size_wh, interpolation=interp) >= 128
    return out


def _scale_matrix(scale: float, offset_xy: tuple[float, float]) -> np.ndarray:
    """2x3 affine mapping source pixel centres scaled by ``scale`` (as ``cv2.resize`` does), then shifted by
    ``-offset_xy``."""
    shift = 0.5 * scale - 0.5
    return np.array(
        [[scale, 0.0, shift - offset_xy[0]], [0.0, scale, shift - offset_xy[1]]], dtype=np.float64
    )


def large_scale_jitter(
    sample: Sample,
    rng: np.random.Generator,
    output_size_px: int = 1024,
    scale_range: tuple[float, float] = (0.1, 4.0),
    scale: float | None = None,
) -> Sample:
    """Large-scale jitter (LSJ): resize by a random factor, random-crop to the output size when larger, pad
    with the mean colour at the bottom-right when smaller.

    The factor is ``s * output_size_px / max(H, W)`` with ``s`` uniform in ``scale_range`` (``s = 1`` fits the
    long side to the output), so a ``scale_range`` of 0.1-4.0 spans 1/10 to 4x the model's native scale.

    Args:
        sample: the sample to transform.
        rng: random generator (scale and crop position).
        output_size_px: side of the square output (the model's input size).
        scale_range: (min, max) of ``s``.
        scale: use this ``s`` instead of drawing one.

    Returns:
        A sample of ``output_size_px`` squared; objects cropped away entirely are dropped.
    """
    height, width = sample["image"].shape[:2]
    s = float(rng.uniform(*scale_range)) if scale is None else float(scale)
    factor = s * output_size_px / max(height, width)
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    x_off = int(rng.integers(0, new_w - output_size_px + 1)) if new_w > output_size_px else 0
    y_off = int(rng.integers(0, new_h - output_size_px + 1)) if new_h > output_size_px else 0
    size = (output_size_px, output_size_px)
    image = np.empty((output_size_px, output_size_px, 3), dtype=np.uint8)
    image[:] = PAD_RGB
    masks = np.zeros((sample["masks"].shape[0], output_size_px, output_size_px), dtype=bool)
    valid_w, valid_h = min(new_w - x_off, output_size_px), min(new_h - y_off, output_size_px)
    rows, cols = slice(y_off, y_off + valid_h), slice(x_off, x_off + valid_w)
    if factor < 1.0:
        # Shrinking: area averaging (no aliasing), then the crop window.
        resized = cv2.resize(sample["image"], (new_w, new_h), interpolation=cv2.INTER_AREA)
        image[:valid_h, :valid_w] = resized[rows, cols]
        masks[:, :valid_h, :valid_w] = resize_masks(sample["masks"], (new_w, new_h))[:, rows, cols]
    else:
        # Enlarging: warp straight into the crop window, never materialising the enlarged image.
        matrix = _scale_matrix(factor, (x_off, y_off))
        warped = cv2.warpAffine(
            sample["image"], matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        image[:valid_h, :valid_w] = warped[:valid_h, :valid_w]
        masks[:, :valid_h, :valid_w] = _warp_masks(sample["masks"], matrix, size)[:, :valid_h, :valid_w]
    out: Sample = dict(sample)  # type: ignore[assignment]
    out["image"] = image
    out["masks"] = masks
    return with_tight_boxes(out)


def resize_longest_side(sample: Sample, output_size_px: int) -> Sample:
    """Deterministic resize of the long side to ``output_size_px``, padded with the mean colour at the
    bottom-right (validation; LSJ with ``s = 1``)."""
    return large_scale_jitter(sample, np.random.default_rng(0), output_size_px, scale=1.0)


def rotate(sample: Sample, angle_deg: float, expand: bool = True) -> Sample:
    """Rotate a sample about its centre by ``angle_deg`` (counter-clockwise as displayed).

    Args:
        sample: the sample to rotate.
        angle_deg: rotation angle in degrees, any value.
        expand: ``True`` grows the canvas to hold the whole rotated image (corners padded with the mean
            colour, nothing lost); ``False`` keeps the size, cutting the corners and dropping objects that
            leave the image.

    Returns:
        The rotated sample: image bilinear, masks nearest-neighbour, boxes recomputed from the masks.
    """
    height, width = sample["image"].shape[:2]
    centre = (width / 2.0 - 0.5, height / 2.0 - 0.5)
    matrix = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    out_w, out_h = width, height
    if expand:
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        out_w = max(1, math.ceil(height * sin + width * cos - 1e-6))
        out_h = max(1, math.ceil(height * cos + width * sin - 1e-6))
        matrix[0, 2] += (out_w - width) / 2.0
        matrix[1, 2] += (out_h - height) / 2.0
    image = cv2.warpAffine(
        sample["image"], matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=PAD_RGB
    )
    masks = np.zeros((sample["masks"].shape[0], out_h, out_w), dtype=bool)
    for i, mask in enumerate(sample["masks"]):
        masks[i] = cv2.warpAffine(mask.astype(np.uint8), matrix, (out_w, out_h), flags=cv2.INTER_NEAREST) > 0
    out: Sample = dict(sample)  # type: ignore[assignment]
    out["image"] = image
    out["masks"] = masks
    return with_tight_boxes(out)


def photometric_jitter(
    sample: Sample,
    rng: np.random.Generator,
    brightness: float = 32.0,
    contrast: tuple[float, float] = (0.75, 1.25),
    channel_gain: tuple[float, float] = (0.9, 1.1),
) -> Sample:
    """Random brightness offset (uniform +-``brightness`` grey levels), contrast about the image mean and
    per-channel gain, clipped to [0, 255]. Masks and boxes are unchanged."""
    image = sample["image"].astype(np.float32)
    mean = image.mean()
    image = (image - mean) * rng.uniform(*contrast) + mean
    image = image * rng.uniform(*channel_gain, size=3).astype(np.float32)
    image = image + rng.uniform(-brightness, brightness)
    out: Sample = dict(sample)  # type: ignore[assignment]
    out["image"] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


def noisy_boxes(
    boxes_px_xyxy: np.ndarray, rng: np.random.Generator, fraction: float, image_hw: tuple[int, int]
) -> np.ndarray:
    """Box prompts with corner noise.

    Args:
        boxes_px_xyxy: (N, 4) XYXY pixels.
        rng: random generator.
        fraction: each corner coordinate moves by up to this fraction of the box's width (x) or height (y),
            uniformly at random.
        image_hw: (height, width) of the image; noisy boxes are clipped to it and keep at least 1 px sides.

    Returns:
        (N, 4) float64 XYXY pixels.
    """
    boxes = np.asarray(boxes_px_xyxy, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4).copy()
    noisy = boxes.copy()
    if fraction > 0:
        wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
        noisy += rng.uniform(-1.0, 1.0, size=boxes.shape) * fraction * wh
    height, width = image_hw
    noisy[:, [0, 2]] = np.clip(noisy[:, [0, 2]], 0, width)
    noisy[:, [1, 3]] = np.clip(noisy[:, [1, 3]], 0, height)
    x0 = np.minimum(noisy[:, 0], noisy[:, 2])
    x1 = np.maximum(noisy[:, 0], noisy[:, 2])
    y0 = np.minimum(noisy[:, 1], noisy[:, 3])
    y1 = np.maximum(noisy[:, 1], noisy[:, 3])
    x1 = np.maximum(x1, np.minimum(x0 + 1, width))
    y1 = np.maximum(y1, np.minimum(y0 + 1, height))
    x0 = np.minimum(x0, x1 - 1)
    y0 = np.minimum(y0, y1 - 1)
    return np.stack([x0, y0, x1, y1], axis=1)


class TrainTransform:
    """The training augmentation: rotation (expanded canvas), LSJ, photometric jitter, box-prompt noise.

    A draw that leaves no object (LSJ crops can miss every object) is retried up to ``retries`` times, then
    the sample falls back to a plain resize without jitter. The result always has ``prompt_boxes``.

    Args:
        output_size_px: the model's input size.
        scale_range: LSJ scale range (paper: 0.1 to 4.0).
        rotation: rotate by a uniform random angle in [-180, 180) degrees.
        photometric: apply :func:`photometric_jitter`.
        box_noise: prompt corner noise as a fraction of box size (0: exact boxes).
        max_objects: keep at most this many objects (random subset); 0 keeps all.
        retries: extra draws when a draw leaves no object.
    """

    def __init__(
        self,
        output_size_px: int,
        scale_range: tuple[float, float] = (0.1, 4.0),
        rotation: bool = True,
        photometric: bool = True,
        box_noise: float = 0.0,
        max_objects: int = 0,
        retries: int = 10,
    ) -> None:
        self.output_size_px = output_size_px
        self.scale_range = scale_range
        self.rotation = rotation
        self.photometric = photometric
        self.box_noise = box_noise
        self.max_objects = max_objects
        self.retries = retries

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        out: Sample | None = None
        for _ in range(self.retries + 1):
            draw = sample
            if self.rotation:
                draw = rotate(draw, float(rng.uniform(-180.0, 180.0)), expand=True)
            draw = large_scale_jitter(draw, rng, self.output_size_px, self.scale_range)
            if len(draw["classes"]) > 0:
                out = draw
                break
        if out is None:
            out = resize_longest_side(sample, self.output_size_px)
        if self.photometric:
            out = photometric_jitter(out, rng)
        return finish_sample(out, rng, self.box_noise, self.max_objects)


class EvalTransform:
    """Validation preprocessing: resize the long side to the model size, pad bottom-right, exact prompts."""

    def __init__(self, output_size_px: int) -> None:
        self.output_size_px = output_size_px

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return finish_sample(resize_longest_side(sample, self.output_size_px), rng, 0.0, 0)


def finish_sample(sample: Sample, rng: np.random.Generator, box_noise: float, max_objects: int) -> Sample:
    """Subsample objects (``max_objects`` > 0) and attach ``prompt_boxes`` (noisy when ``box_noise`` > 0)."""
    n = len(sample["classes"])
    if 0 < max_objects < n:
        keep = np.zeros(n, dtype=bool)
        keep[rng.choice(n, size=max_objects, replace=False)] = True
        sample = select_objects(sample, keep)
    out: Sample = dict(sample)  # type: ignore[assignment]
    out["prompt_boxes"] = noisy_boxes(sample["boxes"], rng, box_noise, sample["image"].shape[:2])
    return out


Transform = Callable[[Sample, np.random.Generator], Sample]
