"""The plugin's files and its installable zip (plugins.qgis.org layout: one top folder ``rossam_geo_qgis/``).

Only source and text files are shipped: no ``__pycache__``, no compiled or binary files.
"""

from __future__ import annotations

import configparser
import zipfile
from pathlib import Path

from rossam_geo.io.atomic import atomic_path
from rossam_geo.qgis_plugin import plugin_source_dir

#: File types shipped with the plugin.
INCLUDED_SUFFIXES = frozenset({".py", ".txt", ".svg", ".md", ".ui", ".qrc"})
EXCLUDED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def plugin_metadata(plugin_dir: Path | None = None) -> dict[str, str]:
    """The ``[general]`` section of the plugin's metadata.txt (keys lower-cased)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(plugin_dir or plugin_source_dir()) / "metadata.txt", encoding="utf-8")
    return dict(parser["general"]) if parser.has_section("general") else {}


def plugin_version(plugin_dir: Path | None = None) -> str:
    """The ``version`` of metadata.txt."""
    return plugin_metadata(plugin_dir)["version"]


def plugin_files(plugin_dir: Path | None = None) -> list[Path]:
    """Files to ship, sorted, relative to the plugin folder."""
    root = Path(plugin_dir or plugin_source_dir())
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or EXCLUDED_PARTS & set(relative.parts):
            continue
        if path.suffix.lower() in INCLUDED_SUFFIXES:
            files.append(relative)
    return files


def build_zip(output: Path, plugin_dir: Path | None = None) -> Path:
    """Write the plugin zip to ``output`` atomically (parent folders created) and return its path."""
    root = Path(plugin_dir or plugin_source_dir())
    with atomic_path(output) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files(root):
            archive.write(root / relative, f"{root.name}/{relative.as_posix()}")
    return output
