"""The clicks of a prompt set: per prompt, points with a label (1 on the object, 0 off it).

A value type held by :class:`rossam_geo.io.PromptSet`; :mod:`rossam_geo.segmentation.points` joins clicks
to prompts and brings them to scene pixels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import InputError

if TYPE_CHECKING:
    import pyproj

__all__ = ["PromptPoints", "parse_label"]


def parse_label(value: Any, where: str) -> int:
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
            labels.append(np.array([parse_label(m, f"prompt {i}") for m in marks], dtype=np.int8))
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

    def fingerprint_text(self) -> str:
        """The clicks as canonical JSON, or "" without clicks (so fingerprints of runs without clicks stay as
        they were)."""
        if self.count == 0:
            return ""
        return json.dumps([self.items(i) for i in range(len(self))], separators=(",", ":"))
