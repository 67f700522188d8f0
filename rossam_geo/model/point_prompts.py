"""Point prompts with the boxes: clicks that refine an object (SAM's prompt encoder takes them with the box).

A batch carries (B, K, 2) XY points and (B, K) labels: 1 a point on the object (foreground), 0 a point off it
(background), -1 padding, where objects have fewer than K points. SAM's prompt encoder would embed padding as
a "not a point" token, so an object's mask would depend on the other objects of its batch; instead the
objects are decoded in groups of equal point counts, each with its own points only
(:func:`groups_by_point_count`), and objects without points exactly as with a box alone.
"""

from __future__ import annotations

import numpy as np
import torch

from rossam_geo.errors import InputError

#: label of a padding point (no point).
PAD_LABEL = -1


def check_points(
    points_px_xy: np.ndarray | torch.Tensor,
    point_labels: np.ndarray | torch.Tensor,
    count: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked (count, K, 2) float32 points and (count, K) int64 labels on ``device``.

    Raises:
        InputError: wrong shapes, labels other than 1, 0 and -1, or non-finite points that are not padding.
    """
    points = torch.as_tensor(points_px_xy)
    labels = torch.as_tensor(point_labels)
    if points.ndim != 3 or points.shape[0] != count or points.shape[2] != 2:
        raise InputError(f"expected ({count}, K, 2) XY points, one row per box, got {tuple(points.shape)}")
    if tuple(labels.shape) != tuple(points.shape[:2]):
        raise InputError(
            f"expected point labels of shape {tuple(points.shape[:2])}, got {tuple(labels.shape)}"
        )
    labels = labels.to(device=device, dtype=torch.int64)
    if not torch.isin(labels, torch.tensor([PAD_LABEL, 0, 1], device=device)).all():
        raise InputError(
            f"point labels must be 1 (object), 0 (background) or -1 (padding), got {labels.tolist()}"
        )
    points = points.to(device=device, dtype=torch.float32)
    if not torch.isfinite(points[labels != PAD_LABEL]).all():
        raise InputError("points must be finite")
    return points, labels


def groups_by_point_count(
    points: torch.Tensor, labels: torch.Tensor
) -> list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]]:
    """Split a batch into groups of objects with the same number of points.

    Args:
        points: (B, K, 2) XY points; labels: (B, K) with -1 for padding (anywhere in a row).

    Returns:
        A list of ``(rows, prompt)``: ``rows`` (R,) int64 indexes into the batch, ``prompt`` None for objects
        without points, else their (R, k, 2) points and (R, k) labels, the points of each object in their
        order with the padding left out.
    """
    valid = labels != PAD_LABEL
    counts = valid.sum(dim=1)
    groups: list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]] = []
    for count in torch.unique(counts).tolist():
        rows = torch.nonzero(counts == count).flatten()
        if count == 0:
            groups.append((rows, None))
            continue
        # a stable sort puts each row's valid points first, in their order
        order = torch.sort((~valid[rows]).to(torch.int32), dim=1, stable=True).indices[:, :count]
        kept_points = torch.gather(points[rows], 1, order[:, :, None].expand(-1, -1, 2))
        kept_labels = torch.gather(labels[rows], 1, order)
        groups.append((rows, (kept_points, kept_labels)))
    return groups
