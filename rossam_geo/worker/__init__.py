"""Backend process for the QGIS plugin: JSON-RPC 2.0 over stdin/stdout, with the model kept loaded.

Start it with ``rossam-geo serve`` or ``python -m rossam_geo.worker``. See ``docs/qgis.md`` for the methods,
their parameters and the error codes (also listed in :mod:`rossam_geo.worker.protocol`).
"""

from __future__ import annotations

from rossam_geo.worker.protocol import DEFAULT_MAX_MESSAGE_BYTES
from rossam_geo.worker.server import PROTOCOL_VERSION, Worker, serve
from rossam_geo.worker.stdio import serve_stdio

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "PROTOCOL_VERSION", "Worker", "serve", "serve_stdio"]
