"""``rossam-geo qgis install / uninstall / zip``."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from click.testing import CliRunner

from rossam_geo.cli import main
from rossam_geo.qgis_plugin.archive import plugin_files, plugin_version


def run(*args: object):
    return CliRunner().invoke(main, ["qgis", *map(str, args)])


def test_install_into_a_profiles_path_then_uninstall(tmp_path: Path):
    (tmp_path / "profiles" / "work").mkdir(parents=True)
    done = run("install", "--profiles-path", tmp_path, "--profile", "work", "--backend", sys.executable)
    assert done.exit_code == 0, done.output
    plugin = tmp_path / "profiles" / "work" / "python" / "plugins" / "rossam_geo_qgis"
    assert f"installed ROS-SAM plugin {plugin_version()} in {plugin}" in done.output
    assert f"backend program: {sys.executable}" in done.output
    settings = (tmp_path / "profiles" / "work" / "QGIS" / "QGIS3.ini").read_text()
    assert f"[rossam_geo]\nbackend={sys.executable}\n" in settings

    done = run("uninstall", "--profiles-path", tmp_path, "--profile", "work")
    assert done.exit_code == 0 and f"removed {plugin}" in done.output
    assert not plugin.exists()


def test_install_without_qgis_profiles_is_a_one_line_error(tmp_path: Path):
    done = run("install", "--profiles-path", tmp_path)
    assert done.exit_code == 1
    assert done.output.startswith("Error: no QGIS profiles folder at")
    assert "Traceback" not in done.output and len(done.output.strip().splitlines()) == 1


def test_zip_writes_the_plugin_and_does_not_overwrite(tmp_path: Path):
    target = tmp_path / "plugin.zip"
    done = run("zip", "-o", target)
    assert done.exit_code == 0, done.output
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert sorted(names) == sorted(f"rossam_geo_qgis/{p.as_posix()}" for p in plugin_files())
    done = run("zip", "-o", target)
    assert done.exit_code == 1 and "exists; pass --overwrite" in done.output
    assert run("zip", "-o", target, "--overwrite").exit_code == 0


def test_the_qgis_commands_do_not_import_qgis_or_torch(tmp_path: Path):
    import subprocess

    code = (
        "import sys; from rossam_geo.cli import main;"
        "main(['qgis', 'zip', '-o', sys.argv[1]], standalone_mode=False);"
        "assert 'qgis' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "p.zip")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
