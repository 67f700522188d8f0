"""``rossam-geo qgis``: install the QGIS plugin into a QGIS profile, remove it, or zip it for sharing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

_F = TypeVar("_F", bound=Callable[..., Any])


def _profile_options(func: _F) -> _F:
    profile = click.option(
        "--profile",
        "profile_name",
        default=None,
        metavar="NAME",
        help="QGIS profile (default: the profile QGIS opens by default, usually 'default').",
    )
    profiles_path = click.option(
        "--profiles-path",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        metavar="DIR",
        help="QGIS's user data folder holding 'profiles/', as QGIS's own --profiles-path (default: "
        "$QGIS_CUSTOM_CONFIG_PATH, else ~/.local/share/QGIS/QGIS3 on Linux, ~/Library/Application "
        "Support/QGIS/QGIS3 on macOS, %APPDATA%\\QGIS\\QGIS3 on Windows).",
    )
    return profile(profiles_path(func))


@click.group("qgis")
def qgis() -> None:
    """Install the QGIS plugin into QGIS (no zip, no path to type), remove it, or zip it."""


@qgis.command("install")
@_profile_options
@click.option(
    "--backend",
    default=None,
    metavar="PROGRAM",
    help="Backend to record in the plugin's settings (default: this environment's rossam-geo).",
)
@click.option("--no-enable", is_flag=True, help="Copy the plugin but leave it disabled in QGIS.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace whatever is at the plugin's path (an earlier ROS-SAM plugin is always replaced).",
)
def install_command(
    profile_name: str | None,
    profiles_path: Path | None,
    backend: str | None,
    no_enable: bool,
    overwrite: bool,
) -> None:
    """Copy the plugin into a QGIS profile and set its backend to this environment.

    Then restart QGIS: the ROS-SAM toolbar is there and the first box starts this environment's backend.
    """
    from rossam_geo.errors import RossamError
    from rossam_geo.qgis_plugin.install import install
    from rossam_geo.qgis_plugin.profiles import find_profile

    try:
        profile = find_profile(profiles_path, profile_name)
        result = install(profile, backend=backend, enable=not no_enable, overwrite=overwrite)
    except RossamError as exc:
        raise click.ClickException(str(exc)) from None
    before = f" (replaced {result.replaced_version})" if result.replaced_version else ""
    click.echo(f"installed ROS-SAM plugin {result.version}{before} in {result.plugin_dir}")
    click.echo(f"backend program: {result.backend}")
    click.echo(f"settings: {result.settings_file} (profile {profile.name!r})")
    click.echo(
        "restart QGIS to load it"
        + ("" if not no_enable else "; enable it in Plugins > Manage and Install Plugins")
    )


@qgis.command("uninstall")
@_profile_options
@click.option("--keep-settings", is_flag=True, help="Keep the plugin's settings in the profile.")
def uninstall_command(profile_name: str | None, profiles_path: Path | None, keep_settings: bool) -> None:
    """Remove the plugin (and, unless --keep-settings, its settings) from a QGIS profile."""
    from rossam_geo.errors import RossamError
    from rossam_geo.qgis_plugin.install import uninstall
    from rossam_geo.qgis_plugin.profiles import find_profile

    try:
        profile = find_profile(profiles_path, profile_name)
        removed = uninstall(profile, keep_settings=keep_settings)
    except RossamError as exc:
        raise click.ClickException(str(exc)) from None
    if removed is None:
        click.echo(f"the ROS-SAM plugin is not installed in profile {profile.name!r} ({profile.folder})")
    else:
        click.echo(f"removed {removed}; restart QGIS")


@qgis.command("zip")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Zip to write (default: rossam_geo_qgis-VERSION.zip in the current folder).",
)
@click.option("--overwrite", is_flag=True, help="Replace the zip if it exists.")
def zip_command(output: Path | None, overwrite: bool) -> None:
    """Write the plugin as a zip for QGIS's Plugins > Manage and Install Plugins > Install from ZIP."""
    from rossam_geo.qgis_plugin import PLUGIN_PACKAGE
    from rossam_geo.qgis_plugin.archive import build_zip, plugin_files, plugin_version

    target = output or Path(f"{PLUGIN_PACKAGE}-{plugin_version()}.zip")
    if target.exists() and not overwrite:
        raise click.ClickException(f"{target} exists; pass --overwrite to replace it, or -o another path")
    build_zip(target)
    click.echo(f"wrote {target} ({len(plugin_files())} files)")
