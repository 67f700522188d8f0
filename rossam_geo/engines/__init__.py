"""Segmentation engines and their registry.

``get_engine(name, **options)`` builds an engine by name. Engines that need torch are imported only when
asked for, so the weight-free engines work without loading a model.
"""

from __future__ import annotations

import importlib
from typing import Any

from rossam_geo.engines.base import Engine, EnginePrediction
from rossam_geo.errors import EngineError

#: engine name -> "module:factory". Each factory takes keyword options and returns an Engine.
ENGINE_FACTORIES: dict[str, str] = {
    "box": "rossam_geo.engines.box:BoxEngine",
    "grabcut": "rossam_geo.engines.grabcut:GrabCutEngine",
    "rossam": "rossam_geo.engines.sam:build_rossam_engine",
    "sam": "rossam_geo.engines.sam:build_sam_engine",
    "hq-sam": "rossam_geo.engines.sam:build_hq_sam_engine",
}
#: the registered engines that need no weights and no model (baselines; temporal help leaves them as is).
WEIGHT_FREE: frozenset[str] = frozenset({"box", "grabcut"})


def engine_names() -> list[str]:
    """Names accepted by :func:`get_engine`, in registry order."""
    return list(ENGINE_FACTORIES)


def weight_free_engines() -> tuple[str, ...]:
    """Names of the engines without weights or model (``box``, ``grabcut``), in registry order."""
    return tuple(name for name in ENGINE_FACTORIES if name in WEIGHT_FREE)


def weighted_engines() -> tuple[str, ...]:
    """Names of the engines that run a model with weights (the SAM family), in registry order."""
    return tuple(name for name in ENGINE_FACTORIES if name not in WEIGHT_FREE)


def get_engine(name: str, **options: Any) -> Engine:
    """Build the engine called ``name`` with engine-specific keyword ``options``.

    Raises:
        EngineError: the name is unknown.
    """
    try:
        target = ENGINE_FACTORIES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_FACTORIES)}") from None
    module_name, attr = target.split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    engine: Engine = factory(**options)
    return engine


__all__ = [
    "ENGINE_FACTORIES",
    "WEIGHT_FREE",
    "Engine",
    "EnginePrediction",
    "engine_names",
    "get_engine",
    "weight_free_engines",
    "weighted_engines",
]
