"""The backend status button and cancelling: the status clears when the settings change, icons read as
states, and a cancel during a model load takes effect at once."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis", reason="QGIS tests run under QGIS's Python: scripts/test_qgis.sh")

import os
import time

from qgis.core import Qgis, QgsRectangle

from tests.qgis_plugin.conftest import backend_program, wait_until
from tests.qgis_plugin.helpers import load_raster

BOX_UTM = QgsRectangle(500_050.0 + 2, 4_999_800.0 + 2, 500_150.0 - 2, 4_999_900.0 - 2)


def status(plugin) -> tuple[str, str]:
    return plugin.status_action.data(), plugin.status_action.toolTip()


def test_failed_status_clears_when_the_settings_change_though_no_backend_runs(
    plugin, qgis_iface, qgis_canvas, utm_raster, tmp_path
):
    from rossam_geo_qgis.plugin import STATUS_ICONS
    from rossam_geo_qgis.settings import PluginSettings

    PluginSettings(backend=str(tmp_path / "no-such-rossam-geo"), engine="box").save()
    load_raster(utm_raster, qgis_iface)
    plugin.controller.segment_rect(BOX_UTM)
    wait_until(lambda: not plugin.controller.tasks)
    state, tip = status(plugin)
    assert state == "failed" and "cannot start the ROS-SAM backend" in tip
    assert plugin.client.pid() is None

    PluginSettings(backend=str(backend_program()), engine="box").save()
    plugin.settings_changed()
    state, tip = status(plugin)
    assert state == "stopped" and "settings changed" in tip
    # each state has its own icon, and none is the point-cloud layer icon or a "run" triangle
    assert len({STATUS_ICONS[s] for s in ("stopped", "ready", "crashed", "failed")}) == 4
    assert not {"/mIconPointCloudLayer.svg", "/mTaskRunning.svg", "/mActionStart.svg"} & set(
        STATUS_ICONS.values()
    )

    plugin.controller.segment_rect(BOX_UTM)
    wait_until(lambda: not plugin.controller.tasks)
    assert status(plugin)[0] == "ready"
    assert plugin.controller.last_layer.featureCount() == 1


def test_cancel_while_the_model_loads_takes_effect_at_once(plugin, qgis_iface, qgis_canvas, utm_raster):
    """Loading the bundled model takes seconds (torch import and weights); cancel does not wait for it."""
    from rossam_geo_qgis.settings import PluginSettings

    PluginSettings(backend=str(backend_program()), engine="rossam", device="cpu").save()
    load_raster(utm_raster, qgis_iface)
    controller, client = plugin.controller, plugin.client
    task = controller.segment_rect(BOX_UTM)
    wait_until(lambda: client.state == "busy")  # the segment request is with the backend, loading the model
    pid = client.pid()
    time.sleep(0.5)
    assert controller.tasks, "the model loaded too fast for this test"

    cancelled_at = time.monotonic()
    task.cancel()
    wait_until(lambda: not controller.tasks, timeout_s=10)
    took_s = time.monotonic() - cancelled_at
    assert took_s < 1.5, f"cancel took {took_s:.1f} s"
    assert any("segmentation cancelled" in m for m in qgis_iface.messageBar().get_messages(Qgis.Info))
    # the backend that was loading a model nobody waits for is stopped
    assert client.pid() is None and client.state == "stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert controller.last_layer is None  # nothing was added
