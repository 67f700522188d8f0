"""The installable zip: plugins.qgis.org layout, complete metadata, no binaries, loadable by QGIS."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

import configparser
import subprocess
import sys
import zipfile

from tests.qgis_plugin.conftest import REPO, backend_cli

MANDATORY = {"name", "qgisminimumversion", "description", "about", "version", "author", "email", "repository"}


def test_zip_has_one_top_folder_complete_metadata_and_no_binaries(tmp_path):
    (REPO / "rossam_geo" / "qgis_plugin" / "rossam_geo_qgis" / "__pycache__").mkdir(
        exist_ok=True
    )  # must be left out
    # built by the backend's environment (QGIS's Python lacks rossam_geo's dependencies), as users do
    zip_path = tmp_path / "plugin.zip"
    built = subprocess.run(
        backend_cli("qgis", "zip", "-o", str(zip_path)), capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        metadata_text = archive.read("rossam_geo_qgis/metadata.txt").decode("utf-8")
        archive.extractall(tmp_path / "extracted")
    assert {name.split("/")[0] for name in names} == {"rossam_geo_qgis"}
    assert "rossam_geo_qgis/__init__.py" in names and "rossam_geo_qgis/processing/provider.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so", ".dll", ".exe"))]
    parser = configparser.ConfigParser()
    parser.read_string(metadata_text)
    general = parser["general"]
    assert MANDATORY <= set(general)
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["hasProcessingProvider"] == "yes"

    # the extracted plugin imports in QGIS's Python without torch or rossam_geo
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import rossam_geo_qgis.plugin;"
        "assert 'torch' not in sys.modules and 'rossam_geo' not in sys.modules; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "extracted")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
