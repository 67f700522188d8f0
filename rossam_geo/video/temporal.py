"""Temporal help between consecutive frames of a track, and the per-track jump report.

Temporal refinement (``--temporal``), applied to SAM-family engines only (the weight-free ``box`` and
``grabcut`` engines ignore it, their masks are left as they are):

1. The previous annotated frame's mask of the same track, as the engine predicted it (unrefined, so every
   frame depends on two frames only and chunked, resumed and distributed runs agree), is moved by the shift
   between the two boxes' centres (rounded to whole pixels).
2. That moved mask is dilated by ``max(2, 15 % of the box's longer side)`` pixels: the zone where the object
   can be.
3. The current mask is intersected with that zone, which trims leaks into the background and neighbours.
   When nothing of the intersection is left inside the current box (the previous mask was wrong or the
   object changed completely), the current mask is kept unchanged.
4. When the engine returned an empty mask, the moved previous mask clipped to the current box is used instead.

Jump report: for each track, consecutive features are compared: area ratio (current / previous) and IoU of the
two polygons after moving the previous one by the shift between the box centres. A pair is flagged when the
ratio leaves ``[1 / max_area_ratio, max_area_ratio]``, the IoU is below ``min_iou`` or a mask is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas

__all__ = ["WindowMask", "jump_report", "move_mask", "refine_with_previous", "summarize_jumps"]


@dataclass(frozen=True)
class WindowMask:
    """A boolean mask over a window of a frame.

    Attributes:
        mask: (height, width) bool.
        col_off, row_off: frame pixel position of the window's upper-left corner.
    """

    mask: np.ndarray
    col_off: int
    row_off: int


def box_centre(box_px_xyxy: tuple[float, ...] | np.ndarray) -> tuple[float, float]:
    """(x, y) centre of an XYXY box, in its units."""
    x0, y0, x1, y1 = (float(v) for v in box_px_xyxy)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def move_mask(
    previous: WindowMask, shift_px: tuple[int, int], col_off: int, row_off: int, width: int, height: int
) -> np.ndarray:
    """Move ``previous`` by ``shift_px`` (dx, dy) frame pixels and cut it to another window.

    Returns:
        (height, width) bool mask over the window at (col_off, row_off).
    """
    out = np.zeros((height, width), dtype=bool)
    src = previous.mask
    # Position of the moved source window inside the target window.
    c = previous.col_off + int(shift_px[0]) - col_off
    r = previous.row_off + int(shift_px[1]) - row_off
    c0, r0 = max(c, 0), max(r, 0)
    c1, r1 = min(c + src.shape[1], width), min(r + src.shape[0], height)
    if c1 > c0 and r1 > r0:
        out[r0:r1, c0:c1] = src[r0 - r : r1 - r, c0 - c : c1 - c]
    return out


def _box_pixels(
    box_px_xyxy: tuple[float, float, float, float], col_off: int, row_off: int, width: int, height: int
) -> np.ndarray:
    """(height, width) bool: window pixels whose centres lie inside the box (frame pixels)."""
    x0, y0, x1, y1 = box_px_xyxy
    cols = np.arange(width) + col_off + 0.5
    rows = np.arange(height) + row_off + 0.5
    return ((rows > y0) & (rows < y1))[:, None] & ((cols > x0) & (cols < x1))[None, :]


def refine_with_previous(
    current: WindowMask | None,
    window: tuple[int, int, int, int],
    box_px_xyxy: tuple[float, float, float, float],
    previous: WindowMask,
    previous_box_px_xyxy: tuple[float, float, float, float],
) -> tuple[np.ndarray, str]:
    """Refine a mask with the previous frame's mask of the same track (rules in the module docstring).

    Args:
        current: the engine's mask over ``window``, or None when it returned nothing.
        window: (col_off, row_off, width, height) of the current window in frame pixels.
        box_px_xyxy: the current box in frame pixels.
        previous: the previous frame's unrefined mask of the track.
        previous_box_px_xyxy: the previous frame's box in frame pixels.

    Returns:
        (mask (height, width) bool over ``window``, note: "" when unchanged, else what was done).
    """
    col_off, row_off, width, height = window
    (cx, cy), (px, py) = box_centre(box_px_xyxy), box_centre(previous_box_px_xyxy)
    shift = (int(round(cx - px)), int(round(cy - py)))
    moved = move_mask(previous, shift, col_off, row_off, width, height)
    inside = _box_pixels(box_px_xyxy, col_off, row_off, width, height)
    if current is None or not current.mask.any():
        carried = moved & inside
        return carried, "temporal: previous mask carried over" if carried.any() else ""
    import cv2

    side = max(box_px_xyxy[2] - box_px_xyxy[0], box_px_xyxy[3] - box_px_xyxy[1])
    radius = max(2, int(round(0.15 * side)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    zone = cv2.dilate(moved.astype(np.uint8), kernel).astype(bool)
    mask = current.mask
    trimmed = mask & zone
    removed = int(mask.sum() - trimmed.sum())
    if not (trimmed & inside).any() or removed == 0:
        return mask, ""
    return trimmed, f"temporal: trimmed {removed} px outside the previous mask"


def jump_report(
    features: geopandas.GeoDataFrame, *, max_area_ratio: float = 2.0, min_iou: float = 0.5
) -> list[dict[str, Any]]:
    """Compare each feature with the previous feature of the same track.

    Args:
        features: output features with ``frame``, ``track_id``, ``status``, ``area``, ``box_cx``, ``box_cy``
            (box centre in the layer's CRS units) and polygon geometry.
        max_area_ratio: flag area ratios above this or below its inverse (> 1).
        min_iou: flag centre-aligned IoUs below this (0 to 1).

    Returns:
        One record per feature after a track's first: track_id, frame, previous_frame, area, previous_area,
        area_ratio, iou_aligned (None when a mask is missing), flagged (bool), why (``;``-joined reasons).
    """
    import shapely.affinity

    records: list[dict[str, Any]] = []
    ordered = features.sort_values(["track_id", "frame"])
    for track_id, rows in ordered.groupby("track_id", sort=True):
        previous = None
        for row in rows.itertuples(index=False):
            if previous is not None:
                why = []
                ok = row.status == "ok" and previous.status == "ok"
                geom, prev_geom = row.geometry, previous.geometry
                ok = ok and geom is not None and prev_geom is not None
                ok = ok and not geom.is_empty and not prev_geom.is_empty
                ratio = iou = None
                if ok:
                    ratio = float(row.area) / float(previous.area) if previous.area else None
                    moved = shapely.affinity.translate(
                        prev_geom, row.box_cx - previous.box_cx, row.box_cy - previous.box_cy
                    )
                    union = geom.union(moved).area
                    iou = float(geom.intersection(moved).area / union) if union > 0 else None
                    if ratio is None or not (1.0 / max_area_ratio <= ratio <= max_area_ratio):
                        why.append("area jump")
                    if iou is None or iou < min_iou:
                        why.append("shape jump")
                else:
                    why.append("missing mask")
                records.append(
                    {
                        "track_id": int(track_id),
                        "frame": int(row.frame),
                        "previous_frame": int(previous.frame),
                        "area": float(row.area),
                        "previous_area": float(previous.area),
                        "area_ratio": ratio,
                        "iou_aligned": iou,
                        "flagged": bool(why),
                        "why": "; ".join(why),
                    }
                )
            previous = row
    return records


def summarize_jumps(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals and per-track counts of a :func:`jump_report`.

    Returns:
        ``{"pairs": n, "flagged": n, "tracks": {track_id: {...}}}`` where each track has ``pairs``,
        ``flagged``, ``min_iou`` and ``max_area_ratio`` (the largest of ratio and 1 / ratio).
    """
    tracks: dict[str, dict[str, Any]] = {}
    for rec in records:
        entry = tracks.setdefault(
            str(rec["track_id"]), {"pairs": 0, "flagged": 0, "min_iou": None, "max_area_ratio": None}
        )
        entry["pairs"] += 1
        entry["flagged"] += int(rec["flagged"])
        if rec["iou_aligned"] is not None:
            entry["min_iou"] = min(
                rec["iou_aligned"], entry["min_iou"] if entry["min_iou"] is not None else 1.0
            )
        if rec["area_ratio"]:
            jump = max(rec["area_ratio"], 1.0 / rec["area_ratio"])
            entry["max_area_ratio"] = max(jump, entry["max_area_ratio"] or 1.0)
    return {
        "pairs": len(records),
        "flagged": sum(int(r["flagged"]) for r in records),
        "tracks": tracks,
    }
