"""The settings dialog guides: wide fields, help where the mouse rests, "Test backend" with what each engine
needs, registry names in Weights, messages naming the dialog's fields; and a fresh screenshot for the docs."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

import os
import shutil

from qgis.core import Qgis, QgsRectangle

from tests.qgis_plugin.conftest import REPO, backend_program, wait_until
from tests.qgis_plugin.helpers import load_raster


def probed_dialog(**kwargs):
    from rossam_geo_qgis.settings_dialog import SettingsDialog

    dialog = SettingsDialog(**kwargs)
    dialog.resize(dialog.minimumWidth(), dialog.sizeHint().height())
    dialog.test_backend()
    wait_until(lambda: dialog.probe_result is not None, timeout_s=120)
    return dialog


def test_fields_are_wide_and_the_help_is_on_the_line_edits(plugin):
    from rossam_geo_qgis.settings_dialog import SettingsDialog

    dialog = SettingsDialog(test_on_open=False)
    dialog.show()
    assert dialog.minimumWidth() >= 700
    # a typical full path fits, rather than showing as "v/bin/rossam-geo"
    line_edit = dialog.backend.lineEdit()
    typical = "/home/username/miniconda3/envs/rossam/bin/rossam-geo"
    assert line_edit.width() > line_edit.fontMetrics().horizontalAdvance(typical) + 20
    assert dialog.backend.lineEdit().text() == str(backend_program())
    for widget in (dialog.backend.lineEdit(), dialog.weights.lineEdit(), dialog.gpkg.lineEdit()):
        assert len(widget.toolTip()) > 40, widget
    assert "rossam-geo qgis install" in dialog.backend.lineEdit().toolTip()
    assert "sam_vit_b" in dialog.weights.lineEdit().toolTip()
    for widget in (dialog.engine, dialog.device, dialog.crop_size, dialog.output_layer):
        assert widget.toolTip()
    dialog.close()


def test_test_backend_shows_version_devices_and_what_each_engine_needs(plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path / "empty-cache"))  # no weights downloaded
    dialog = probed_dialog()
    version, environment, error = dialog.probe_result
    assert error is None and environment is not None
    status = dialog.backend_status.text()
    assert f"rossam-geo {version['rossam_geo']}, Python" in status and "torch" in status
    assert "CUDA found" in status or "CUDA not found" in status
    assert 'Device "auto" uses:' in status
    lines = dialog.engine_info.text().replace("\n    ", " ").splitlines()  # joins wrapped lines
    assert [line.split(":")[0] for line in lines] == version["engines"]
    by_engine = {line.split(":")[0]: line for line in lines}
    assert by_engine["rossam"].startswith("rossam: ready, bundled model rossam-compact")
    assert by_engine["box"] == "box: ready, needs no weights"
    assert (
        'set "Weights"' in by_engine["hq-sam"]
        and "rossam-geo weights fetch sam_hq_vit_b" in by_engine["hq-sam"]
    )
    names = [dialog.weights.itemText(i) for i in range(dialog.weights.count())]
    assert {"sam_vit_b", "sam_hq_vit_b"} <= set(names)
    assert dialog.weights.currentText() == ""  # offering names does not change the field
    # the backend the dialog started for the test is stopped again
    from rossam_geo_qgis import settings_dialog

    assert settings_dialog._RUNNING == {}
    dialog.close()


def test_screenshot_of_the_settings_dialog_after_test_backend(plugin, tmp_path, monkeypatch):
    """Renders the dialog offscreen; ROSSAM_WRITE_DOCS_IMAGES=1 copies it to docs/images/qgis_settings.png."""
    from rossam_geo_qgis.settings import PluginSettings

    monkeypatch.delenv("ROSSAM_GEO_CACHE", raising=False)  # the backend reads (only) the user's cache

    PluginSettings(backend=str(backend_program()), engine="rossam", device="auto").save()
    dialog = probed_dialog()
    dialog.show()
    wait_until(lambda: dialog.isVisible())
    dialog.adjustSize()
    # every line is shown in full: the dialog grew with the backend's answer
    for label in (dialog.engine_info, dialog.backend_status):
        assert label.height() >= label.sizeHint().height() and label.width() >= label.sizeHint().width()
    image = tmp_path / "qgis_settings.png"
    pixmap = dialog.grab()
    assert pixmap.width() >= dialog.minimumWidth() and pixmap.save(str(image))
    if os.environ.get("ROSSAM_WRITE_DOCS_IMAGES"):
        shutil.copyfile(image, REPO / "docs" / "images" / "qgis_settings.png")
    dialog.close()


def test_test_backend_with_a_wrong_path_says_it_cannot_start(plugin, tmp_path):
    dialog = probed_dialog(test_on_open=False)  # the saved backend works
    assert dialog.probe_result[2] is None
    dialog.backend.setFilePath(str(tmp_path / "missing" / "rossam-geo"))
    dialog.probe_result = None
    dialog.test_backend()
    wait_until(lambda: dialog.probe_result is not None)
    assert "cannot start the ROS-SAM backend" in dialog.backend_status.text()
    assert "missing" in dialog.backend_status.text()
    dialog.close()


def test_engine_without_weights_names_the_weights_field_not_a_flag(
    plugin, qgis_iface, utm_raster, tmp_path, monkeypatch
):
    from rossam_geo_qgis.settings import PluginSettings

    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path / "empty-cache"))
    PluginSettings(backend=str(backend_program()), engine="hq-sam", device="cpu").save()
    load_raster(utm_raster, qgis_iface)
    plugin.controller.segment_rect(QgsRectangle(500_050.0, 4_999_800.0, 500_150.0, 4_999_900.0))
    wait_until(lambda: not plugin.controller.tasks, timeout_s=120)
    (message,) = [m for m in qgis_iface.messageBar().get_messages(Qgis.Critical) if "hq-sam" in m]
    assert 'engine "hq-sam" needs weights' in message and '"Weights"' in message
    assert "--weights" not in message and "--engine" not in message
