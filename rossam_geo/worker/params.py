"""Validation of JSON-RPC method parameters; each failure is an ``INVALID_PARAMS`` error naming it."""

from __future__ import annotations

import math
from typing import Any

from rossam_geo.worker.protocol import INVALID_PARAMS, RpcError

_MISSING = object()


def named(params: dict[str, Any] | list[Any], method: str, allowed: set[str]) -> dict[str, Any]:
    """Return the named parameters of ``method``, rejecting positional arrays and unknown names."""
    if isinstance(params, list):
        if params:
            raise RpcError(
                INVALID_PARAMS, f"{method}: pass parameters by name (a JSON object), not as an array"
            )
        return {}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise RpcError(
            INVALID_PARAMS,
            f"{method}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}",
        )
    return params


def get_str(
    params: dict[str, Any], name: str, *, required: bool = False, default: str | None = None
) -> str | None:
    """A string parameter (null allowed unless ``required``)."""
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise RpcError(INVALID_PARAMS, f'missing parameter "{name}" (a string)')
        return default
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f'parameter "{name}" must be a string, got {_json_type(value)}')
    return value


def require_str(params: dict[str, Any], name: str) -> str:
    """A required string parameter."""
    value = get_str(params, name, required=True)
    return value if value is not None else ""


def get_object(params: dict[str, Any], name: str) -> dict[str, Any]:
    """An optional JSON-object parameter (empty when absent or null)."""
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, f'parameter "{name}" must be an object, got {_json_type(value)}')
    return value


def get_boxes(params: dict[str, Any], name: str = "boxes") -> list[tuple[float, float, float, float]]:
    """A list of ``[xmin, ymin, xmax, ymax]`` number quadruples."""
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise RpcError(INVALID_PARAMS, f'missing parameter "{name}" (a list of [xmin, ymin, xmax, ymax])')
    if not isinstance(value, list):
        raise RpcError(
            INVALID_PARAMS,
            f'parameter "{name}" must be a list of [xmin, ymin, xmax, ymax], got {_json_type(value)}',
        )
    boxes = []
    for index, box in enumerate(value):
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            raise RpcError(
                INVALID_PARAMS,
                f'"{name}"[{index}] must be 4 finite numbers [xmin, ymin, xmax, ymax], got {box!r:.60}',
            )
        boxes.append((float(box[0]), float(box[1]), float(box[2]), float(box[3])))
    return boxes


def get_request_id(params: dict[str, Any], name: str = "id") -> str | int | float:
    """The id of another request (string or number)."""
    value = params.get(name, _MISSING)
    if value is _MISSING or isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RpcError(INVALID_PARAMS, f'parameter "{name}" must be the id (string or number) of a request')
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
