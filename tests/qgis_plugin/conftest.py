"""Fixtures for the QGIS plugin tests; they run under QGIS's own Python (see scripts/test_qgis.sh).

Where ``qgis`` cannot be imported (the project's main environment) the QGIS tests skip; the plugin's pure
helpers are still tested.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

HAS_QGIS = importlib.util.find_spec("qgis") is not None
PLUGIN_PARENT = REPO / "rossam_geo" / "qgis_plugin"
sys.path.insert(0, str(PLUGIN_PARENT))
if HAS_QGIS:
    # keep the plugin's QgsSettings away from the user's QGIS profile
    from qgis.PyQt.QtCore import QSettings

    _SETTINGS_DIR = tempfile.mkdtemp(prefix="rossam-qgis-settings-")
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, _SETTINGS_DIR)
    QSettings.setDefaultFormat(QSettings.IniFormat)


def backend_program() -> Path:
    """The main environment's ``rossam-geo`` (``ROSSAM_GEO_BACKEND`` overrides)."""
    return Path(os.environ.get("ROSSAM_GEO_BACKEND", REPO / ".venv" / "bin" / "rossam-geo"))


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Process Qt events until ``condition()`` holds; fails the test after ``timeout_s``."""
    from qgis.core import QgsApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        QgsApplication.processEvents()
        time.sleep(0.01)


if HAS_QGIS:

    @pytest.fixture(scope="session", autouse=True)
    def _clear_project_before_exit(qgis_app):  # noqa: ANN001
        """QGIS crashes at exit with layers still loaded: clear the project before pytest-qgis exits QGIS."""
        yield
        from qgis.core import QgsProject

        QgsProject.instance().clear()


@pytest.fixture
def backend_settings() -> Iterator[None]:
    """Plugin settings pointing at the repository's backend with the weight-free ``box`` engine."""
    from rossam_geo_qgis.settings import PluginSettings

    program = backend_program()
    if not program.exists():
        pytest.fail(f"backend {program} not found; create the main .venv first (scripts/test.sh)")
    PluginSettings(backend=str(program), engine="box", device="cpu", crop_size=512).save()
    yield
    PluginSettings().save()


def backend_cli(*args: str) -> list[str]:
    """Command line running ``rossam-geo ARGS`` with the backend program (an executable or a Python)."""
    program = backend_program()
    if program.name.lower().startswith("python"):
        return [str(program), "-m", "rossam_geo", *args]
    return [str(program), *args]


def settings_dir() -> str:
    """Folder of the test session's QSettings (QgsSettings reads ``<it>/QGIS/QGIS3.ini``)."""
    return _SETTINGS_DIR


@pytest.fixture
def saved_project(qgis_new_project, tmp_path: Path) -> Path:  # noqa: ANN001
    """The new project named ``tmp_path/project.qgz`` (not written): results go to project_rossam.gpkg."""
    from qgis.core import QgsProject

    path = tmp_path / "project.qgz"
    QgsProject.instance().setFileName(str(path))
    return path


@pytest.fixture
def plugin(qgis_iface, saved_project, backend_settings) -> Iterator[object]:  # noqa: ANN001
    """The plugin, loaded with initGui and unloaded after the test; it never asks for an output file."""
    from rossam_geo_qgis import classFactory

    instance = classFactory(qgis_iface)
    instance.initGui()
    instance.controller.ask_path = _no_question
    yield instance
    instance.unload()
    qgis_iface.messageBar().clear_messages()


def _no_question() -> None:
    raise AssertionError("the plugin asked for an output GeoPackage although the project has a file name")


@pytest.fixture
def utm_raster(tmp_path: Path) -> Path:
    """60 x 40 px RGB GeoTIFF in UTM 33N (EPSG:32633), 10 m pixels, upper-left corner (500000, 5000000)."""
    return write_raster(
        tmp_path / "utm.tif",
        width=60,
        height=40,
        crs="EPSG:32633",
        geotransform=(500_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0),
    )


@pytest.fixture
def png_frame(tmp_path: Path) -> Path:
    """50 x 30 px plain PNG (no georeferencing)."""
    return write_raster(
        tmp_path / "frame.png", width=50, height=30, crs=None, geotransform=None, driver="PNG"
    )


def write_raster(
    path: Path,
    *,
    width: int,
    height: int,
    crs: str | None,
    geotransform: tuple[float, ...] | None,
    driver: str = "GTiff",
) -> Path:
    """A small uint8 RGB raster written with GDAL (QGIS's Python has no rasterio): a gradient with a bright
    rectangle, enough to see in renders."""
    import numpy as np
    from osgeo import gdal, osr

    rows, cols = np.mgrid[0:height, 0:width]
    bands = [
        (40 + cols * 150 // max(width - 1, 1)).astype(np.uint8),
        (60 + rows * 120 // max(height - 1, 1)).astype(np.uint8),
        np.full((height, width), 90, dtype=np.uint8),
    ]
    mem = gdal.GetDriverByName("MEM").Create("", width, height, 3, gdal.GDT_Byte)
    if geotransform is not None:
        mem.SetGeoTransform(geotransform)
    if crs is not None:
        srs = osr.SpatialReference()
        srs.SetFromUserInput(crs)
        mem.SetProjection(srs.ExportToWkt())
    for index, band in enumerate(bands, start=1):
        mem.GetRasterBand(index).WriteArray(band)
    gdal.GetDriverByName(driver).CreateCopy(str(path), mem)
    mem = None
    return path
