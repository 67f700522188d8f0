"""Installing the plugin into a QGIS profile: files, settings, replacing and removing."""

from __future__ import annotations

import fnmatch
import sys
import sysconfig
from pathlib import Path

import pytest
import tomllib

from rossam_geo.errors import InputError
from rossam_geo.qgis_plugin import plugin_source_dir
from rossam_geo.qgis_plugin.archive import plugin_files
from rossam_geo.qgis_plugin.install import default_backend, install, uninstall
from rossam_geo.qgis_plugin.profiles import QgisProfile

REPO = Path(__file__).resolve().parents[2]
USER_SETTINGS = '[General]\r\nlocale=de\r\n\r\n[qgis]\r\nstylesheet="a, b"\r\n'


@pytest.fixture
def profile(tmp_path: Path) -> QgisProfile:
    folder = tmp_path / "profiles" / "default"
    (folder / "QGIS").mkdir(parents=True)
    (folder / "QGIS" / "QGIS3.ini").write_bytes(USER_SETTINGS.encode())
    return QgisProfile("default", folder)


@pytest.fixture
def backend(tmp_path: Path) -> str:
    program = tmp_path / "env" / "bin" / "rossam-geo"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    return str(program)


def test_install_copies_the_plugin_and_records_the_backend(profile, backend):
    result = install(profile, backend=backend)

    target = profile.plugins_dir / "rossam_geo_qgis"
    assert result.plugin_dir == target and result.replaced_version is None
    shipped = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    assert shipped == plugin_files() and Path("metadata.txt") in shipped
    assert (target / "plugin.py").read_bytes() == (plugin_source_dir() / "plugin.py").read_bytes()
    text = profile.settings_file.read_bytes().decode()
    # the user's settings stay as they were (line endings included); ours are added
    assert (
        text
        == USER_SETTINGS
        + f"\r\n[rossam_geo]\r\nbackend={backend}\r\n\r\n[PythonPlugins]\r\nrossam_geo_qgis=true\r\n"
    )
    assert not [p for p in profile.plugins_dir.iterdir() if p.name != "rossam_geo_qgis"]  # no staging left


def test_reinstall_replaces_an_earlier_version_and_keeps_other_plugin_settings(profile, backend, tmp_path):
    install(profile, backend=backend)
    metadata = profile.plugins_dir / "rossam_geo_qgis" / "metadata.txt"
    metadata.write_text(metadata.read_text().replace("version=", "version=0.0.1\nold=", 1))
    stale = profile.plugins_dir / "rossam_geo_qgis" / "stale.py"
    stale.write_text("")
    text = profile.settings_file.read_bytes().decode().replace("backend=", "engine=sam\r\nbackend=")
    profile.settings_file.write_bytes(text.encode())

    other = tmp_path / "other" / "python"
    other.parent.mkdir()
    other.write_text("")
    result = install(profile, backend=str(other), enable=False)
    assert result.replaced_version == "0.0.1"
    assert not stale.exists()
    text = profile.settings_file.read_bytes().decode()
    assert f"[rossam_geo]\r\nengine=sam\r\nbackend={other}\r\n" in text


def test_install_does_not_replace_a_foreign_folder_or_link_without_overwrite(profile, backend, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    profile.plugins_dir.mkdir(parents=True)
    (profile.plugins_dir / "rossam_geo_qgis").symlink_to(checkout)
    with pytest.raises(InputError, match="is not an installed ROS-SAM plugin.*--overwrite"):
        install(profile, backend=backend)
    assert (profile.plugins_dir / "rossam_geo_qgis").is_symlink()
    install(profile, backend=backend, overwrite=True)
    assert not (profile.plugins_dir / "rossam_geo_qgis").is_symlink()
    assert checkout.is_dir()  # the link's target is left alone


def test_missing_backend_program_is_refused_before_anything_is_copied(profile, tmp_path):
    with pytest.raises(InputError, match="backend program .*does not exist; pass --backend"):
        install(profile, backend=str(tmp_path / "nope" / "rossam-geo"))
    assert not profile.plugins_dir.exists()


def test_uninstall_removes_the_plugin_and_only_its_settings(profile, backend):
    install(profile, backend=backend)
    assert uninstall(profile) == profile.plugins_dir / "rossam_geo_qgis"
    assert not (profile.plugins_dir / "rossam_geo_qgis").exists()
    text = profile.settings_file.read_bytes().decode()
    assert "rossam" not in text and "locale=de" in text and 'stylesheet="a, b"' in text
    assert uninstall(profile) is None


def test_uninstall_can_keep_the_settings(profile, backend):
    install(profile, backend=backend)
    uninstall(profile, keep_settings=True)
    assert f"backend={backend}" in profile.settings_file.read_text()


def test_default_backend_is_this_environments_rossam_geo_or_python():
    found = default_backend()
    script = Path(sysconfig.get_path("scripts")) / "rossam-geo"
    assert found == (str(script) if script.is_file() else sys.executable)


def test_every_plugin_file_is_package_data_of_the_wheel():
    """Files that are not Python modules reach the wheel only through package-data globs."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["rossam_geo.qgis_plugin.rossam_geo_qgis"]
    data = [p.as_posix() for p in plugin_files() if p.suffix != ".py"]
    assert data, "the plugin has metadata and icons"
    assert [p for p in data if not any(fnmatch.fnmatch(p, g) for g in globs)] == []
    # every folder holding modules is a package, so find_packages ships it
    for module in plugin_files():
        if module.suffix == ".py":
            assert (plugin_source_dir() / module.parent / "__init__.py").is_file(), module
