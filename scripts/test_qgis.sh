#!/usr/bin/env bash
# Run the QGIS plugin tests under real QGIS (Debian's python3-qgis), headless.
# The tests start a backend for the plugin: $ROSSAM_GEO_BACKEND when set (a rossam-geo executable, or a
# Python that has rossam_geo installed), else the main environment's .venv/bin/rossam-geo (scripts/test.sh
# creates it). They also run that backend's `qgis install` into a temporary QGIS profile.
# Usage: [ROSSAM_GEO_BACKEND=PROGRAM] scripts/test_qgis.sh [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

QGIS_PYTHON=/usr/bin/python3
if ! "$QGIS_PYTHON" -c "import qgis.core" >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-qgis >/dev/null
    else
        echo "error: QGIS's Python bindings are missing; install them (Debian: apt-get install python3-qgis)" >&2
        exit 1
    fi
fi

if [ -z "${ROSSAM_GEO_BACKEND:-}" ] && [ ! -x .venv/bin/rossam-geo ]; then
    echo "error: .venv/bin/rossam-geo not found; run scripts/test.sh first to create the main environment," \
        "or set ROSSAM_GEO_BACKEND to a rossam-geo executable" >&2
    exit 1
fi

# A separate venv on QGIS's Python; it sees the system's qgis and PyQt5 packages.
[ -x .venv-qgis/bin/python ] || "$QGIS_PYTHON" -m venv --system-site-packages .venv-qgis
.venv-qgis/bin/python -m pip install -q --disable-pip-version-check "numpy<2" "attrs>=23.2" pytest pytest-qgis

export QT_QPA_PLATFORM=offscreen
export ROSSAM_GEO_BACKEND="${ROSSAM_GEO_BACKEND:-$PWD/.venv/bin/rossam-geo}"
.venv-qgis/bin/python -m pytest tests/qgis_plugin -q -p no:cacheprovider "$@"
