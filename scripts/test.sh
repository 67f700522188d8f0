#!/usr/bin/env bash
# Install rossam-geo with its test dependencies into .venv and run the test suite.
# Usage: scripts/test.sh [pytest arguments...]   (slow tests: scripts/test.sh -m slow)
set -euo pipefail
cd "$(dirname "$0")/.."

# GDAL's command-line tools (ogrinfo) check our GeoPackages from the outside.
if ! command -v ogrinfo >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin >/dev/null
    else
        echo "note: ogrinfo not found; install GDAL's tools (Debian: gdal-bin) to run the GDAL read-back test" >&2
    fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check \
    torch==2.14.1 torchvision==0.29.1 -e '.[test]'
.venv/bin/python -m ruff check rossam_geo tests benchmarks examples scripts
.venv/bin/python -m mypy
.venv/bin/python -m pytest -q --ignore=tests/qgis_plugin "$@"
# The QGIS plugin runs under QGIS's own Python (Debian python3-qgis), against this environment's backend.
scripts/test_qgis.sh
