#!/usr/bin/env python3
"""Build the installable QGIS plugin zip from a source checkout (same as ``rossam-geo qgis zip``).

Usage: python scripts/build_plugin.py [-o dist/rossam_geo_qgis-<version>.zip]

Works without installing rossam-geo, with a Python that has rossam-geo's dependencies (the zip is written
through ``rossam_geo.io``).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rossam_geo.qgis_plugin import plugin_source_dir  # noqa: E402
from rossam_geo.qgis_plugin.archive import build_zip, plugin_files, plugin_version  # noqa: E402

PLUGIN_DIR = plugin_source_dir()
__all__ = ["PLUGIN_DIR", "build", "main", "plugin_files", "plugin_version"]


def build(output: Path, plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Write the zip to ``output`` (parent folders created) and return its path."""
    return build_zip(output, plugin_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, help="zip to write (default: dist/rossam_geo_qgis-VERSION.zip)"
    )
    args = parser.parse_args(argv)
    output = args.output or REPO / "dist" / f"rossam_geo_qgis-{plugin_version()}.zip"
    path = build(output)
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    print(f"wrote {path} ({count} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
