"""Clicks that refine prompts: points with labels (1 on the object, 0 off it), per prompt, checked here.

A prompt's box decides its window; its clicks go to the engine with the box (SAM's prompt encoder takes them,
GrabCut takes them as seeds, the ``box`` engine ignores them), and the mask parts holding a click on the
object are kept. Clicks come as a points file joined to the prompts by ``prompt_id``
(:func:`rossam_geo.io.read_points`), per prompt as ``[x, y, label]`` rows, or as :class:`PromptPoints`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import CRSError, InputError
from rossam_geo.io.prompt_points import PromptPoints, parse_label

if TYPE_CHECKING:
    from rossam_geo.io import PromptSet, SceneInfo
    from rossam_geo.io.points import PointTable

__all__ = ["Points", "PromptPoints", "attach_points", "join_points", "points_in_pixels"]

#: what ``points`` may be: a points file, :class:`PromptPoints`, or per prompt None or (K, 3) [x, y, label].
Points = Any


def points_in_pixels(points: PromptPoints, scene: SceneInfo) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per prompt, None or its clicks in scene pixels ((K, 2) XY, (K,) labels).

    Raises:
        CRSError: clicks with a CRS over a scene without one.
    """
    from rossam_geo.geo import points_to_pixels

    flat = np.concatenate([*points.xy, np.zeros((0, 2))])
    # without a CRS the clicks are scene pixels, as prompt boxes without one (``pixel``)
    pixels = flat if points.crs is None else points_to_pixels(flat, points.crs, scene)
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    start = 0
    for labels in points.labels:
        out.append((pixels[start : start + len(labels)], labels) if len(labels) else None)
        start += len(labels)
    return out


def join_points(prompts: PromptSet, table: PointTable) -> PromptPoints:
    """The clicks of a points table aligned with ``prompts`` by prompt id (``7``, ``7.0`` and ``"7"`` match).

    The points keep the table's CRS; a table without one (CSV) is in the prompts' coordinates.

    Raises:
        InputError: a point whose prompt id is not among the prompts, a missing point or a bad label.
    """
    from rossam_geo.segmentation.prompts import prompt_key

    position = {prompt_key(p): i for i, p in enumerate(prompts.ids)}
    xy: list[list[np.ndarray]] = [[] for _ in prompts.ids]
    labels: list[list[int]] = [[] for _ in prompts.ids]
    unknown = []
    for prompt_id, point, label, row in zip(
        table.prompt_ids, table.xy, table.labels, table.rows, strict=True
    ):
        where = f"{table.source}, {row}"
        index = position.get(prompt_key(_number_or_text(prompt_id)))
        if index is None:
            unknown.append(str(prompt_id))
            continue
        if not np.isfinite(point).all():
            raise InputError(f"{where}: the point has no coordinates; give x and y (or a point geometry)")
        xy[index].append(point)
        labels[index].append(parse_label(label, where))
    if unknown:
        shown = ", ".join(sorted(set(unknown))[:5])
        raise InputError(
            f"{table.source}: {len(unknown)} point(s) refine prompt ids that are not among the prompts "
            f"({shown}); give each point the prompt_id of its box"
        )
    return PromptPoints(
        tuple(np.array(p, dtype=np.float64).reshape(-1, 2) for p in xy),
        tuple(np.array(m, dtype=np.int8) for m in labels),
        table.crs if table.crs is not None else prompts.crs,
    )


def _number_or_text(value: Any) -> Any:
    """A prompt id read from a file: text holding a whole number is that number (CSV ids are text)."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value.strip()
    return value


def attach_points(prompts: PromptSet, points: Points) -> PromptSet:
    """``prompts`` with their clicks.

    Args:
        prompts: the prompts.
        points: a points file (joined by prompt id, see :func:`join_points`), :class:`PromptPoints`, or per
            prompt None or (K, 3) ``[x, y, label]`` rows in the prompts' coordinates; None: no clicks.

    Raises:
        InputError: clicks for another number of prompts, or bad clicks.
    """
    if points is None:
        return prompts
    if isinstance(points, (str, Path)):
        from rossam_geo.io.points import read_points

        points = join_points(prompts, read_points(points))
    elif not isinstance(points, PromptPoints):
        points = PromptPoints.from_rows(list(points), prompts.crs)
    if len(points) != len(prompts):
        raise InputError(
            f"got clicks for {len(points)} prompts but {len(prompts)} prompts; give one entry each"
        )
    if points.crs is not None and prompts.crs is None:
        raise CRSError(
            "the clicks have a CRS but the prompts are scene pixels; give the clicks in pixels too"
        )
    return dataclasses.replace(prompts, points=points)
