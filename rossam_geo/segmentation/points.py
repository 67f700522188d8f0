"""Clicks that refine prompts: points with labels (1 on the object, 0 off it), per prompt, checked here.

A prompt's box decides its window; its clicks go to the engine with the box (SAM's prompt encoder takes them,
GrabCut takes them as seeds, the ``box`` engine ignores them), and the mask parts holding a click on the
object are kept. Clicks come as a points file joined to the prompts by ``prompt_id``
(:func:`rossam_geo.io.read_points`), per prompt as ``[x, y, label]`` rows, or as :class:`PromptPoints`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import CRSError, InputError

if TYPE_CHECKING:
    import pyproj

    from rossam_geo.io import PromptSet, SceneInfo
    from rossam_geo.io.points import PointTable

__all__ = ["Points", "PromptPoints", "attach_points", "join_points"]

#: what ``points`` may be: a points file, :class:`PromptPoints`, or per prompt None or (K, 3) [x, y, label].
Points = Any


def _label(value: Any, where: str) -> int:
    """A click label: 1 (on the object) or 0 (off it), from an int, float, bool or text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if number not in (0.0, 1.0):
        raise InputError(f"{where}: label must be 1 (on the object) or 0 (off it), got {value!r:.40}")
    return int(number)


@dataclass(frozen=True)
class PromptPoints:
    """The clicks of a prompt set, aligned with its prompts (prompt i has ``xy[i]`` and ``labels[i]``).

    Attributes:
        xy: per prompt, a (K_i, 2) float64 array of XY in ``crs`` (K_i may be 0).
        labels: per prompt, a (K_i,) int8 array: 1 a point on the object, 0 a point off it.
        crs: the points' CRS; None: scene pixels (x right, y down), as prompts without CRS.

    Values are checked when the object is made.

    Raises:
        InputError: a different number of point and label arrays, wrong shapes, non-finite points or labels
            other than 1 and 0.
    """

    xy: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    crs: pyproj.CRS | None = None

    def __post_init__(self) -> None:
        if len(self.xy) != len(self.labels):
            raise InputError(f"got points for {len(self.xy)} prompts but labels for {len(self.labels)}")
        xy, labels = [], []
        for i, (points, marks) in enumerate(zip(self.xy, self.labels, strict=True)):
            points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            marks = np.asarray(marks).reshape(-1)
            if len(marks) != len(points) or not np.isfinite(points).all():
                raise InputError(
                    f"prompt {i}: give one label per point and finite x, y values; got {len(points)} points "
                    f"and {len(marks)} labels"
                )
            xy.append(points)
            labels.append(np.array([_label(m, f"prompt {i}") for m in marks], dtype=np.int8))
        object.__setattr__(self, "xy", tuple(xy))
        object.__setattr__(self, "labels", tuple(labels))

    @classmethod
    def from_rows(cls, rows: Sequence[Any], crs: pyproj.CRS | None = None) -> PromptPoints:
        """From per-prompt None or (K, 3) ``[x, y, label]`` rows."""
        xy, labels = [], []
        for i, item in enumerate(rows):
            array = np.zeros((0, 3)) if item is None else np.asarray(item, dtype=np.float64)
            if array.size and (array.ndim != 2 or array.shape[1] != 3):
                raise InputError(
                    f"points of prompt {i} must be [x, y, label] rows, got shape {array.shape}; "
                    "label 1 on the object, 0 off it"
                )
            array = array.reshape(-1, 3)
            xy.append(array[:, :2])
            labels.append(array[:, 2])
        return cls(tuple(xy), tuple(labels), crs)

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def count(self) -> int:
        """Clicks in all."""
        return sum(len(labels) for labels in self.labels)

    def subset(self, indexes: Sequence[int]) -> PromptPoints:
        """The clicks of the prompts at ``indexes``, in that order."""
        return PromptPoints(
            tuple(self.xy[i] for i in indexes), tuple(self.labels[i] for i in indexes), self.crs
        )

    def items(self, index: int) -> list[list[float]]:
        """The clicks of prompt ``index`` as ``[x, y, label]`` rows (for fingerprints)."""
        return [
            [float(x), float(y), int(m)] for (x, y), m in zip(self.xy[index], self.labels[index], strict=True)
        ]

    def in_pixels(self, scene: SceneInfo) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per prompt, None or its clicks in scene pixels ((K, 2) XY, (K,) labels).

        Raises:
            CRSError: clicks with a CRS over a scene without one.
        """
        from rossam_geo.geo import points_to_pixels

        flat = np.concatenate([*self.xy, np.zeros((0, 2))])
        # without a CRS the clicks are scene pixels, as prompt boxes without one (``pixel``)
        pixels = flat if self.crs is None else points_to_pixels(flat, self.crs, scene)
        out: list[tuple[np.ndarray, np.ndarray] | None] = []
        start = 0
        for labels in self.labels:
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
        labels[index].append(_label(label, where))
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


def points_fingerprint_items(prompts: PromptSet) -> str:
    """The clicks of ``prompts`` as canonical JSON, or "" without clicks (so fingerprints of runs without
    clicks stay as they were)."""
    points = getattr(prompts, "points", None)
    if points is None or points.count == 0:
        return ""
    return json.dumps([points.items(i) for i in range(len(points))], separators=(",", ":"))
