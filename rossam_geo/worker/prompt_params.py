"""The optional per-box members of a ``segment`` request: the client's prompt ids and its clicks.

* ``prompt_ids``: one id per box (integer or string, unique); the result's ``prompt_id`` echoes them (default:
  the box index).
* ``points``: one entry per box, null or a list of ``[x, y]`` clicks in the request's CRS (that of the boxes);
  ``point_labels``: the same shape, 1 for a click on the object, 0 for one off it.

Each failure is an ``INVALID_PARAMS`` error naming the member and the box.
"""

from __future__ import annotations

import math
from typing import Any

from rossam_geo.worker.protocol import INVALID_PARAMS, RpcError

#: per box: its clicks ([x, y] each) and their labels (1 or 0).
BoxClicks = tuple[list[tuple[float, float]], list[int]]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _per_box(params: dict[str, Any], name: str, count: int) -> list[Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != count:
        raise RpcError(INVALID_PARAMS, f'"{name}" must be a list with one entry per box ({count})')
    return value


def get_prompt_ids(params: dict[str, Any], count: int) -> list[int | str] | None:
    """The client's prompt ids (None when not given)."""
    ids = _per_box(params, "prompt_ids", count)
    if ids is None:
        return None
    for index, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise RpcError(
                INVALID_PARAMS, f'"prompt_ids"[{index}] must be an integer or a string, got {value!r:.40}'
            )
    if len(set(ids)) != len(ids):
        raise RpcError(INVALID_PARAMS, '"prompt_ids" must be unique')
    return ids


def get_clicks(params: dict[str, Any], count: int) -> list[BoxClicks | None] | None:
    """The clicks of each box (None when the request has none)."""
    points = _per_box(params, "points", count)
    labels = _per_box(params, "point_labels", count)
    if points is None and labels is None:
        return None
    if points is None or labels is None:
        raise RpcError(INVALID_PARAMS, 'give "points" and "point_labels" together')
    out: list[BoxClicks | None] = []
    for index, (box_points, box_labels) in enumerate(zip(points, labels, strict=True)):
        if box_points is None and box_labels is None:
            out.append(None)
            continue
        if not (isinstance(box_points, list) and isinstance(box_labels, list)) or len(box_points) != len(
            box_labels
        ):
            raise RpcError(
                INVALID_PARAMS,
                f'"points"[{index}] and "point_labels"[{index}] must be lists of the same length (one label '
                "per click)",
            )
        for point in box_points:
            if not (isinstance(point, list) and len(point) == 2 and all(_is_number(v) for v in point)):
                raise RpcError(INVALID_PARAMS, f'"points"[{index}] must hold [x, y] pairs of finite numbers')
        if any(isinstance(label, bool) or label not in (0, 1) for label in box_labels):
            raise RpcError(
                INVALID_PARAMS, f'"point_labels"[{index}] must hold 1 (on the object) or 0 (off it)'
            )
        out.append(([(float(x), float(y)) for x, y in box_points], [int(label) for label in box_labels]))
    return out
