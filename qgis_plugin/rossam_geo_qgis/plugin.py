"""The plugin shell: toolbar, actions, map tool, processing provider; ``unload`` undoes ``initGui``."""

from __future__ import annotations

import os
from typing import Any

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QToolBar

from .backend import BackendClient, BackendError
from .controller import MESSAGE_TITLE, SegmentController
from .map_tool import BoxMapTool
from .processing.provider import RossamProvider
from .settings import PluginSettings
from .tasks import CallTask

ICON = os.path.join(os.path.dirname(__file__), "icon.svg")
STATUS_ICONS = {
    "stopped": "/mIconPointCloudLayer.svg",
    "starting": "/mTaskRunning.svg",
    "ready": "/mIconSuccess.svg",
    "busy": "/mTaskRunning.svg",
    "crashed": "/mIconWarning.svg",
    "failed": "/mIconWarning.svg",
}


class RossamGeoPlugin:
    """ROS-SAM for QGIS: draw a box, get the object's polygon; plus a processing algorithm."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.toolbar: QToolBar | None = None
        self.actions: list[QAction] = []
        self.box_action: QAction | None = None
        self.status_action: QAction | None = None
        self.map_tool: BoxMapTool | None = None
        self.provider: RossamProvider | None = None
        self.client: BackendClient | None = None
        self.controller: SegmentController | None = None
        self._check_task: CallTask | None = None

    # ------------------------------------------------------------------------------------------------- GUI
    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.client = BackendClient(lambda: PluginSettings.load().backend_command())
        self.client.stateChanged.connect(self._show_state)
        self.client.crashed.connect(self._show_crash)
        self.controller = SegmentController(self.iface, self.client)

        self.toolbar = self.iface.addToolBar("ROS-SAM")
        self.toolbar.setObjectName("RossamGeoToolbar")

        self.box_action = QAction(QIcon(ICON), "Box to polygon", self.iface.mainWindow())
        self.box_action.setCheckable(True)
        self.box_action.setToolTip("ROS-SAM: drag a box around an object to get its polygon")
        self.box_action.triggered.connect(self._toggle_map_tool)
        settings_action = QAction(
            QgsApplication.getThemeIcon("/mActionOptions.svg"), "ROS-SAM settings…", self.iface.mainWindow()
        )
        settings_action.triggered.connect(self._open_settings)
        self.status_action = QAction(self.iface.mainWindow())
        self.status_action.triggered.connect(self._ping)
        for action in (self.box_action, settings_action, self.status_action):
            self.toolbar.addAction(action)
            self.actions.append(action)
        self.iface.addPluginToMenu("ROS-SAM", settings_action)
        self._show_state("stopped", "backend not started; it starts with the first request")

        self.map_tool = BoxMapTool(self.iface.mapCanvas())
        self.map_tool.setAction(self.box_action)
        self.map_tool.boxDrawn.connect(self.controller.segment_rect)

        self.provider = RossamProvider(lambda: self.client)
        QgsApplication.processingRegistry().addProvider(self.provider)

    def unload(self) -> None:
        if self.controller is not None:
            self.controller.cancel_all()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.map_tool is not None:
            canvas = self.iface.mapCanvas()
            if canvas.mapTool() is self.map_tool:
                canvas.unsetMapTool(self.map_tool)
            self.map_tool.clean_up()
            self.map_tool.deleteLater()
            self.map_tool = None
        for action in self.actions:
            self.iface.removePluginMenu("ROS-SAM", action)
            if self.toolbar is not None:
                self.toolbar.removeAction(action)
            action.deleteLater()
        self.actions = []
        self.box_action = self.status_action = None
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.client is not None:
            self.client.stop()
            self.client.deleteLater()
            self.client = None
        self.controller = None

    # --------------------------------------------------------------------------------------------- actions
    def _toggle_map_tool(self, checked: bool) -> None:
        canvas = self.iface.mapCanvas()
        if checked and self.map_tool is not None:
            canvas.setMapTool(self.map_tool)
        elif self.map_tool is not None and canvas.mapTool() is self.map_tool:
            canvas.unsetMapTool(self.map_tool)

    def _open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        engines = (self.client.info or {}).get("engines") if self.client is not None else None
        if SettingsDialog(self.iface.mainWindow(), engines).exec_() and self.client is not None:
            self.client.stop()  # the next request starts the backend with the new program

    def _ping(self) -> None:
        if self.client is None:
            return
        task = CallTask(self.client, "version", {}, self._show_version)
        self._check_task = task
        QgsApplication.taskManager().addTask(task)

    def _show_version(self, result: dict[str, Any] | None, error: BackendError | None) -> None:
        self._check_task = None
        if result is not None and self.client is not None:
            self.client.info = dict(result)
        bar = self.iface.messageBar()
        if error is not None or result is None:
            text = error.message if error is not None else "no answer"
            bar.pushMessage(MESSAGE_TITLE, text, level=Qgis.Critical, duration=10)
            return
        text = (
            f"backend ready: rossam-geo {result.get('rossam_geo')}, Python {result.get('python')}, "
            f"engines {', '.join(result.get('engines', []))}"
        )
        bar.pushMessage(MESSAGE_TITLE, text, level=Qgis.Success, duration=5)

    def _show_state(self, state: str, detail: str) -> None:
        if self.status_action is None:
            return
        self.status_action.setIcon(QgsApplication.getThemeIcon(STATUS_ICONS.get(state, "/mIconWarning.svg")))
        self.status_action.setText(f"ROS-SAM backend: {state}")
        self.status_action.setToolTip(f"ROS-SAM backend: {state}\n{detail}\nClick to check the backend.")

    def _show_crash(self, message: str) -> None:
        self.iface.messageBar().pushMessage(MESSAGE_TITLE, message, level=Qgis.Critical, duration=10)
