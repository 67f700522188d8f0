"""The QGIS plugin shipped inside the package, and the code that installs it into QGIS.

``rossam_geo_qgis/`` is the plugin itself. It runs inside QGIS, imports ``qgis`` and is never imported by
rossam_geo; it talks to the backend (``rossam-geo serve``) over stdio. The modules beside it never import
``qgis``: :mod:`.profiles` finds QGIS's user profiles, :mod:`.qsettings_ini` edits a profile's settings file
the way QSettings reads it, :mod:`.install` copies the plugin into a profile and :mod:`.archive` zips it for
*Install from ZIP*.
"""

from __future__ import annotations

from pathlib import Path

#: Folder (and Python package) name of the plugin inside a QGIS profile's ``python/plugins``.
PLUGIN_PACKAGE = "rossam_geo_qgis"
#: Settings group of the plugin in QGIS's settings (``rossam_geo/backend``...).
SETTINGS_GROUP = "rossam_geo"


def plugin_source_dir() -> Path:
    """The plugin's folder inside this installation of rossam_geo."""
    return Path(__file__).resolve().parent / PLUGIN_PACKAGE


__all__ = ["PLUGIN_PACKAGE", "SETTINGS_GROUP", "plugin_source_dir"]
