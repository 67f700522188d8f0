"""Test-time augmentation of box-prompted engines: the square model input flipped and transposed.

Every variant is one of the dihedral symmetries of the square: an optional transpose (rows <-> columns), then
optional left-right and up-down flips. Each keeps an axis-aligned box axis-aligned, so the prompt box (and any
click given with it) is transformed exactly; the variant's mask logits are mapped back and all variants'
logits are averaged.

* ``"none"``: the input as is (1 pass);
* ``"flips"``: as is, and flipped left-right, up-down and both (4 passes);
* ``"d8"``: those 4 and the same 4 on the transposed input (8 passes), all symmetries of the square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rossam_geo.errors import InputError

TTA_MODES: tuple[str, ...] = ("none", "flips", "d8")


@dataclass(frozen=True)
class Symmetry:
    """One symmetry of the square model input: transpose first, then flip left-right, then up-down."""

    transpose: bool = False
    flip_lr: bool = False
    flip_ud: bool = False

    def images(self, images_rgb_u8: np.ndarray) -> np.ndarray:
        """(B, S, S, C) images -> the same images transformed (a view where possible)."""
        out = images_rgb_u8
        if self.transpose:
            out = out.transpose(0, 2, 1, 3)
        if self.flip_lr:
            out = out[:, :, ::-1]
        if self.flip_ud:
            out = out[:, ::-1]
        return out

    def boxes(self, boxes_px_xyxy: np.ndarray, size_px: int) -> np.ndarray:
        """(B, 4) XYXY boxes in pixel-edge coordinates of the S x S input -> the transformed boxes."""
        out = np.array(boxes_px_xyxy, dtype=np.float64, copy=True).reshape(-1, 4)
        if self.transpose:
            out = out[:, [1, 0, 3, 2]]
        if self.flip_lr:
            out[:, [0, 2]] = size_px - out[:, [2, 0]]
        if self.flip_ud:
            out[:, [1, 3]] = size_px - out[:, [3, 1]]
        return out

    def points(self, points_px_xy: np.ndarray, size_px: int) -> np.ndarray:
        """(..., 2) XY points in pixel-edge coordinates of the S x S input -> the transformed points (the same
        map as :meth:`boxes`: a box's corners go to the transformed box's corners)."""
        out = np.array(points_px_xy, dtype=np.float64, copy=True)
        if self.transpose:
            out = out[..., ::-1].copy()
        if self.flip_lr:
            out[..., 0] = size_px - out[..., 0]
        if self.flip_ud:
            out[..., 1] = size_px - out[..., 1]
        return out

    def invert_logits(self, logits: np.ndarray) -> np.ndarray:
        """(B, S, S) logits of transformed inputs -> logits in the original input's frame."""
        out = logits
        if self.flip_ud:
            out = out[:, ::-1]
        if self.flip_lr:
            out = out[:, :, ::-1]
        if self.transpose:
            out = out.transpose(0, 2, 1)
        return out


def symmetries(mode: str) -> tuple[Symmetry, ...]:
    """The symmetries of a TTA mode (the identity first).

    Raises:
        InputError: unknown mode.
    """
    if mode not in TTA_MODES:
        raise InputError(f"unknown test-time augmentation {mode!r}; choose one of: {', '.join(TTA_MODES)}")
    flips = (Symmetry(), Symmetry(flip_lr=True), Symmetry(flip_ud=True), Symmetry(flip_lr=True, flip_ud=True))
    if mode == "none":
        return flips[:1]
    if mode == "flips":
        return flips
    return flips + tuple(Symmetry(True, s.flip_lr, s.flip_ud) for s in flips)


def augment(
    images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray, size_px: int, variants: tuple[Symmetry, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Stack every variant of N objects: (T * N, S, S, C) images and (T * N, 4) boxes, variant-major.

    With the identity alone the inputs come back as they are (no copy).
    """
    if variants == (Symmetry(),):
        return images_rgb_u8, boxes_px_xyxy
    images = np.concatenate([v.images(images_rgb_u8) for v in variants])
    boxes = np.concatenate([v.boxes(boxes_px_xyxy, size_px) for v in variants])
    return images, boxes


def augment_points(
    points_px_xy: np.ndarray, point_labels: np.ndarray, size_px: int, variants: tuple[Symmetry, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The points of :func:`augment`'s variants: (T * N, K, 2) points and (T * N, K) labels, variant-major."""
    if variants == (Symmetry(),):
        return points_px_xy, point_labels
    points = np.concatenate([v.points(points_px_xy, size_px) for v in variants])
    return points, np.concatenate([point_labels] * len(variants))


def merge(
    logits: np.ndarray, scores: np.ndarray, variants: tuple[Symmetry, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Map the (T * N, S, S) logits of :func:`augment`'s inputs back and average them per object, with the
    (T * N,) scores: (N, S, S) logits and (N,) scores. With the identity alone they come back as they are."""
    if variants == (Symmetry(),):
        return logits, scores
    n = len(logits) // len(variants)
    return unaugment(logits, variants).mean(axis=0), scores.reshape(len(variants), n).mean(axis=0)


def unaugment(logits: np.ndarray, variants: tuple[Symmetry, ...]) -> np.ndarray:
    """Map the (T * N, S, S) logits of :func:`augment`'s inputs back: (T, N, S, S), each variant in the
    original frame (views where possible)."""
    n = len(logits) // len(variants)
    per_variant = logits.reshape(len(variants), n, *logits.shape[1:])
    return np.stack([v.invert_logits(x) for v, x in zip(variants, per_variant, strict=True)])
