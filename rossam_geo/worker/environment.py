"""The ``environment`` request: what this backend can run, for the QGIS settings dialog (read-only).

It reports the Python and torch of the backend's environment, whether CUDA (or Apple MPS) is usable and
which device ``auto`` picks, what each engine needs to run (nothing, the bundled model, or registry weights,
and whether those are in the weights cache) and the registry's checkpoints with their cache state. Nothing is
loaded or downloaded; torch is imported to look at the devices.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from rossam_geo import __version__

#: Engines whose factories live here run a SAM-family network and so need weights.
_SAM_FAMILY_MODULE = "rossam_geo.engines.sam"


def describe_environment(cache_dir: Path | str | None = None) -> dict[str, Any]:
    """The ``environment`` result.

    Args:
        cache_dir: weights cache folder (default: the user's, see :func:`rossam_geo.weights.cache_dir`).

    Returns:
        ``{"rossam_geo", "python", "executable", "torch", "cuda": {"available", "devices", "version"},
        "mps", "auto_device", "cache_dir", "engines": [...], "weights": [...]}``; each engine is
        ``{"name", "needs", "default_weights", "ready", "detail"}`` with ``needs`` one of ``"nothing"``,
        ``"bundled"``, ``"registry"``; each weights entry is ``{"name", "family", "arch", "filename",
        "cached", "path", "note"}``.
    """
    from rossam_geo.engines import ENGINE_FACTORIES
    from rossam_geo.weights import REGISTRY
    from rossam_geo.weights import cache_dir as resolve_cache_dir

    folder = resolve_cache_dir(cache_dir)
    weights = [
        {
            "name": entry.name,
            "family": entry.family,
            "arch": entry.arch,
            "filename": entry.filename,
            "cached": (folder / entry.filename).is_file(),
            "path": str(folder / entry.filename),
            "note": entry.note,
        }
        for entry in REGISTRY.values()
    ]
    cached = {entry.name: (folder / entry.filename).is_file() for entry in REGISTRY.values()}
    engines = [_describe_engine(name, target, cached) for name, target in ENGINE_FACTORIES.items()]
    return {
        "rossam_geo": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        **_devices(),
        "cache_dir": str(folder),
        "engines": engines,
        "weights": weights,
    }


def _describe_engine(name: str, factory: str, cached: dict[str, bool]) -> dict[str, Any]:
    if not factory.startswith(_SAM_FAMILY_MODULE + ":"):
        return {"name": name, "needs": "nothing", "default_weights": None, "ready": True, "detail": ""}
    from rossam_geo.engines.sam import DEFAULT_WEIGHTS

    default = DEFAULT_WEIGHTS.get(name)
    if default is not None:
        ready = cached.get(default, False)
        detail = f"default weights {default} {'cached' if ready else 'not downloaded'}"
        return {
            "name": name,
            "needs": "registry",
            "default_weights": default,
            "ready": ready,
            "detail": detail,
        }
    from rossam_geo.model.compact import COMPACT_MODEL_NAME, bundled_weights_path

    ready = bundled_weights_path() is not None
    detail = f"bundled model {COMPACT_MODEL_NAME}" + ("" if ready else " missing from this installation")
    return {
        "name": name,
        "needs": "bundled",
        "default_weights": COMPACT_MODEL_NAME,
        "ready": ready,
        "detail": detail,
    }


def _devices() -> dict[str, Any]:
    """torch version, CUDA/MPS availability and the device ``auto`` resolves to."""
    try:
        import torch
    except ImportError:
        return {
            "torch": None,
            "cuda": {"available": False, "devices": [], "version": None},
            "mps": False,
            "auto_device": "cpu",
        }
    from rossam_geo.engines.device import resolve_device

    cuda = torch.cuda.is_available()
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    return {
        "torch": str(torch.__version__),
        "cuda": {"available": cuda, "devices": devices, "version": torch.version.cuda},
        "mps": bool(torch.backends.mps.is_available()),
        "auto_device": resolve_device("auto").type,
    }
