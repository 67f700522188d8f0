"""Installing the plugin into a QGIS profile, with this environment recorded as its backend.

``install`` copies the plugin folder into the profile's ``python/plugins/``, sets the plugin's
``rossam_geo/backend`` setting (what the settings dialog calls "Backend program") to this environment's
``rossam-geo`` and enables the plugin (``PythonPlugins/rossam_geo_qgis``), so that QGIS starts with the plugin
ready and no path to type. Nothing here imports ``qgis``.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rossam_geo.errors import InputError
from rossam_geo.io.atomic import write_bytes_atomic
from rossam_geo.qgis_plugin import PLUGIN_PACKAGE, SETTINGS_GROUP, plugin_source_dir
from rossam_geo.qgis_plugin.archive import plugin_files, plugin_metadata
from rossam_geo.qgis_plugin.profiles import QgisProfile
from rossam_geo.qgis_plugin.qsettings_ini import remove_section, set_values

#: QGIS's settings group listing enabled Python plugins.
ENABLED_PLUGINS_GROUP = "PythonPlugins"


@dataclass(frozen=True)
class InstallResult:
    """What ``install`` did.

    Attributes:
        plugin_dir: the installed plugin folder.
        version: the installed plugin's version.
        replaced_version: version of the ROS-SAM plugin that was there before, or None.
        backend: the backend program recorded in the profile's settings.
        settings_file: the profile's settings file that was edited.
    """

    plugin_dir: Path
    version: str
    replaced_version: str | None
    backend: str
    settings_file: Path


def default_backend() -> str:
    """This environment's backend: its ``rossam-geo`` executable, else this Python (run as ``-m``)."""
    scripts = Path(sysconfig.get_path("scripts"))
    names = ("rossam-geo.exe", "rossam-geo") if os.name == "nt" else ("rossam-geo",)
    for name in names:
        candidate = scripts / name
        if candidate.is_file():
            return str(candidate)
    return sys.executable


def installed_version(plugin_dir: Path) -> str | None:
    """Version of the ROS-SAM plugin in ``plugin_dir``, or None when the folder holds something else."""
    if plugin_dir.is_symlink() or not (plugin_dir / "metadata.txt").is_file():
        return None
    metadata = plugin_metadata(plugin_dir)
    return metadata.get("version") if metadata.get("name") == "ROS-SAM" else None


def install(
    profile: QgisProfile,
    *,
    backend: str | None = None,
    enable: bool = True,
    overwrite: bool = False,
    source_dir: Path | None = None,
) -> InstallResult:
    """Copy the plugin into ``profile`` and record ``backend`` in its settings.

    An earlier ROS-SAM plugin in the profile is replaced; anything else at the plugin's path (a link to a
    source checkout, another folder) only with ``overwrite``. The copy is made beside the target and moved
    into place, so an interrupted install leaves the earlier plugin intact.

    Args:
        profile: the QGIS profile.
        backend: the backend program to record (default: :func:`default_backend`).
        enable: also mark the plugin as enabled in the profile.
        overwrite: replace whatever is at the plugin's path.
        source_dir: the plugin folder to copy (default: the one shipped in this package).

    Raises:
        InputError: something other than the ROS-SAM plugin is at the plugin's path and ``overwrite`` is
            false, or the backend program does not exist.
    """
    source = Path(source_dir or plugin_source_dir())
    target = profile.plugins_dir / PLUGIN_PACKAGE
    backend = default_backend() if backend is None else shutil.which(backend) or backend
    if not Path(backend).is_file():
        raise InputError(
            f"backend program {backend} does not exist; pass --backend with the path of a rossam-geo "
            "executable or of a Python that has rossam_geo installed"
        )
    replaced = installed_version(target)
    exists = target.exists() or target.is_symlink()
    if exists and replaced is None and not overwrite:
        raise InputError(
            f"{target} exists and is not an installed ROS-SAM plugin (a link to a source checkout?); "
            "remove it, or pass --overwrite to replace it"
        )
    profile.plugins_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN_PACKAGE}.", dir=profile.plugins_dir))
    try:
        copy = staging / PLUGIN_PACKAGE
        for relative in plugin_files(source):
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, copy / relative)
        if exists:
            _remove(target, staging / "previous")
        copy.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _edit_settings(profile, backend=backend, enable=enable)
    return InstallResult(
        plugin_dir=target,
        version=plugin_metadata(target).get("version", "?"),
        replaced_version=replaced,
        backend=backend,
        settings_file=profile.settings_file,
    )


def uninstall(profile: QgisProfile, *, keep_settings: bool = False) -> Path | None:
    """Remove the ROS-SAM plugin from ``profile``; returns the removed folder (None: it was not there).

    The plugin's settings (the ``rossam_geo`` group) and its enabled flag are removed too, unless
    ``keep_settings``. A link at the plugin's path (a source checkout) is unlinked, its target kept.

    Raises:
        InputError: something other than the ROS-SAM plugin is at the plugin's path.
    """
    target = profile.plugins_dir / PLUGIN_PACKAGE
    removed = None
    if target.is_symlink():
        target.unlink()
        removed = target
    elif target.exists():
        if installed_version(target) is None:
            raise InputError(f"{target} is not the ROS-SAM plugin; remove it yourself if it should go")
        staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN_PACKAGE}.", dir=profile.plugins_dir))
        try:
            _remove(target, staging / "previous")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        removed = target
    if not keep_settings and profile.settings_file.is_file():
        text = _read_settings(profile.settings_file)
        edited = set_values(
            remove_section(text, SETTINGS_GROUP), ENABLED_PLUGINS_GROUP, {PLUGIN_PACKAGE: None}
        )
        if edited != text:
            _write_settings(profile.settings_file, edited)
    return removed


def _remove(target: Path, parking: Path) -> None:
    """Move ``target`` out of the way (to ``parking``, deleted with its staging folder); unlink a link."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    else:
        target.replace(parking)


def _edit_settings(profile: QgisProfile, *, backend: str, enable: bool) -> None:
    settings = profile.settings_file
    text = _read_settings(settings) if settings.is_file() else ""
    text = set_values(text, SETTINGS_GROUP, {"backend": backend})
    if enable:
        text = set_values(text, ENABLED_PLUGINS_GROUP, {PLUGIN_PACKAGE: "true"})
    _write_settings(settings, text)


# QSettings writes ASCII (everything else escaped); bytes that are not UTF-8 are carried through unchanged.
def _read_settings(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


def _write_settings(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8", "surrogateescape"))
