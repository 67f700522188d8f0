#!/usr/bin/env python3
"""Build the installable QGIS plugin zip (plugins.qgis.org layout: one top folder ``rossam_geo_qgis/``).

Usage: python scripts/build_plugin.py [-o dist/rossam_geo_qgis-<version>.zip]

Only source and text files go in: no __pycache__, no compiled or binary files.
"""

from __future__ import annotations

import argparse
import configparser
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO / "qgis_plugin" / "rossam_geo_qgis"
#: File types shipped in the zip.
INCLUDED_SUFFIXES = {".py", ".txt", ".svg", ".md", ".ui", ".qrc"}
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def plugin_version(plugin_dir: Path = PLUGIN_DIR) -> str:
    """The ``version`` of metadata.txt."""
    parser = configparser.ConfigParser()
    parser.read(plugin_dir / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"]


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """Files to ship, sorted, relative to the plugin folder."""
    files = []
    for path in sorted(plugin_dir.rglob("*")):
        relative = path.relative_to(plugin_dir)
        if not path.is_file() or EXCLUDED_PARTS & set(relative.parts):
            continue
        if path.suffix.lower() in INCLUDED_SUFFIXES:
            files.append(relative)
    return files


def build(output: Path, plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Write the zip to ``output`` (parent folders created) and return its path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    top = plugin_dir.name
    tmp = output.with_name(output.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files(plugin_dir):
            archive.write(plugin_dir / relative, f"{top}/{relative.as_posix()}")
    tmp.replace(output)
    return output


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
