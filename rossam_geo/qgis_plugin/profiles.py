"""QGIS user profiles: where they live on each system and what a profile folder holds.

QGIS 3 keeps its user data in one folder per system (``configLocalStorageLocation`` in QGIS's sources):

* Linux: ``$XDG_DATA_HOME/QGIS/QGIS3`` (``~/.local/share/QGIS/QGIS3``),
* macOS: ``~/Library/Application Support/QGIS/QGIS3``,
* Windows: ``%APPDATA%\\QGIS\\QGIS3``,

or the folder named by ``QGIS_CUSTOM_CONFIG_PATH`` or QGIS's ``--profiles-path`` option. Profiles are the
sub-folders of its ``profiles/`` folder; ``profiles/profiles.ini`` names the default one. A profile keeps its
Python plugins in ``python/plugins/`` and its settings in ``QGIS/QGIS3.ini`` (QSettings' INI format).
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rossam_geo.errors import InputError

#: Environment variable that moves QGIS's user data folder (read by QGIS itself).
QGIS_CONFIG_ENV = "QGIS_CUSTOM_CONFIG_PATH"
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class QgisProfile:
    """One QGIS user profile.

    Attributes:
        name: profile name (the folder's name).
        folder: the profile folder.
    """

    name: str
    folder: Path

    @property
    def plugins_dir(self) -> Path:
        """Folder of the profile's Python plugins."""
        return self.folder / "python" / "plugins"

    @property
    def settings_file(self) -> Path:
        """The profile's QSettings file, read by QgsSettings inside QGIS."""
        return self.folder / "QGIS" / "QGIS3.ini"


def default_config_dir(
    platform: str | None = None, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """QGIS's user data folder on this system (the folder holding ``profiles/``).

    Args:
        platform: ``sys.platform`` value to answer for (default: this system's).
        environ: environment variables (default: ``os.environ``).
        home: the user's home folder (default: ``Path.home()``).
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if environ.get(QGIS_CONFIG_ENV):
        return Path(environ[QGIS_CONFIG_ENV]).expanduser()
    if platform.startswith("win"):
        appdata = environ.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "QGIS" / "QGIS3"


def profiles_root(profiles_path: Path | str | None = None) -> Path:
    """The ``profiles/`` folder under ``profiles_path`` (as QGIS's ``--profiles-path``) or the default."""
    base = Path(profiles_path).expanduser() if profiles_path is not None else default_config_dir()
    return base / "profiles"


def list_profiles(root: Path) -> list[str]:
    """Names of the profiles in the ``profiles/`` folder ``root``, sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def default_profile_name(root: Path) -> str:
    """The profile QGIS opens by default: ``defaultProfile`` of ``profiles.ini``, else ``default``."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(root / "profiles.ini", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return DEFAULT_PROFILE
    name = parser.get("core", "defaultProfile", fallback="").strip()
    return name or DEFAULT_PROFILE


def find_profile(profiles_path: Path | str | None = None, name: str | None = None) -> QgisProfile:
    """The profile called ``name`` (default: QGIS's default profile), which must exist.

    Args:
        profiles_path: QGIS's user data folder, as given to QGIS's ``--profiles-path`` (the folder holding
            ``profiles/``); default: this system's (see :func:`default_config_dir`).
        name: profile name.

    Raises:
        InputError: there is no profiles folder (QGIS was never started) or no such profile.
    """
    root = profiles_root(profiles_path)
    if not root.is_dir():
        raise InputError(
            f"no QGIS profiles folder at {root}; start QGIS once so that it creates its profile, or pass "
            "--profiles-path with the folder that holds QGIS's 'profiles' folder"
        )
    chosen = name or default_profile_name(root)
    folder = root / chosen
    if not folder.is_dir():
        found = ", ".join(list_profiles(root)) or "none"
        raise InputError(f"no QGIS profile {chosen!r} in {root} (profiles: {found}); pass --profile NAME")
    return QgisProfile(chosen, folder)
