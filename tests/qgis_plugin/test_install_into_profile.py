"""``rossam-geo qgis install`` into a temporary QGIS profiles folder, then QGIS loads the plugin from that
profile (qgis.utils, as QGIS does at start-up) with the backend already set, and it segments a box."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

import os
import subprocess
import sys
from pathlib import Path

import qgis.utils
from qgis.core import QgsRectangle, QgsSettings
from qgis.PyQt.QtCore import QSettings

from tests.qgis_plugin.conftest import backend_cli, wait_until
from tests.qgis_plugin.helpers import load_raster

PACKAGE = "rossam_geo_qgis"


@pytest.fixture
def profile_settings(tmp_path: Path):
    """QSettings of the test session pointed at a profile folder, as QGIS does for the profile it opens."""
    before = os.path.dirname(os.path.dirname(QgsSettings().fileName()))
    profile = tmp_path / "qgis" / "profiles" / "default"
    profile.mkdir(parents=True)  # QGIS made it at its first start
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(profile))
    assert QgsSettings().fileName() == str(profile / "QGIS" / "QGIS3.ini")
    yield profile
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, before)


@pytest.fixture
def plugin_from_profile(profile_settings: Path, qgis_iface, qgis_new_project, tmp_path: Path):  # noqa: ANN001
    """Runs the install command, then loads and starts the installed plugin the way QGIS does."""
    done = subprocess.run(
        backend_cli("qgis", "install", "--profiles-path", str(tmp_path / "qgis")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    recorded = next(line for line in done.stdout.splitlines() if line.startswith("backend program: "))
    plugins_dir = str(profile_settings / "python" / "plugins")
    # the repository's copy of the plugin, imported by the other tests, steps aside
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == PACKAGE}
    sys.path.insert(0, plugins_dir)
    qgis.utils.plugin_paths.insert(0, plugins_dir)
    try:
        qgis.utils.updateAvailablePlugins()
        assert qgis.utils.loadPlugin(PACKAGE) and qgis.utils.startPlugin(PACKAGE)
        plugin = qgis.utils.plugins[PACKAGE]
        plugin.controller.ask_path = lambda: str(tmp_path / "objects.gpkg")
        yield plugin, recorded.removeprefix("backend program: ")
        qgis.utils.unloadPlugin(PACKAGE)
    finally:
        qgis.utils.plugin_paths.remove(plugins_dir)
        sys.path.remove(plugins_dir)
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_installed_plugin_starts_with_the_backend_set_and_segments(
    plugin_from_profile, qgis_iface, utm_raster
):
    plugin, backend = plugin_from_profile
    assert Path(sys.modules[PACKAGE].__file__).parent.parent.parent.parent.name == "default"
    assert QgsSettings().value(f"PythonPlugins/{PACKAGE}", False, type=bool)  # enabled for QGIS
    assert QgsSettings().value("rossam_geo/backend") == backend
    assert os.path.isfile(backend)
    program, _arguments = plugin.client._command()
    assert program == backend

    from rossam_geo_qgis.settings import PluginSettings

    settings = PluginSettings.load()
    settings.engine, settings.device = "box", "cpu"
    settings.save()
    load_raster(utm_raster, qgis_iface)
    plugin.controller.segment_rect(QgsRectangle(500_052.0, 4_999_802.0, 500_148.0, 4_999_898.0))
    wait_until(lambda: not plugin.controller.tasks and plugin.controller.last_layer is not None)
    assert [f["status"] for f in plugin.controller.last_layer.getFeatures()] == ["ok"]
