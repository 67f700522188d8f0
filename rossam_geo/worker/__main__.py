"""``python -m rossam_geo.worker``: the backend worker on stdin/stdout (same as ``rossam-geo serve``)."""

from __future__ import annotations

import sys

from rossam_geo.worker.stdio import serve_stdio

if __name__ == "__main__":
    sys.exit(serve_stdio())
