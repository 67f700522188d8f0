"""The plugin shell: toolbar, actions, map tool, processing provider; ``unload`` undoes ``initGui``."""

from __future__ import annotations

import os
from typing import Any

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QComboBox, QToolBar

from .backend import BackendClient, BackendError
from .controller import MESSAGE_TITLE, SegmentController
from .map_tool import BoxMapTool
from .processing.provider import RossamProvider
from .settings import CLASSES, PluginSettings
from .style import restyle_result_layers
from .tasks import CallTask

ICON = os.path.join(os.path.dirname(__file__), "icon.svg")
MENU = "ROS-SAM"
#: QGIS theme icon of each backend state: switched off, waiting (stopwatch), done (check), warning, error.
STATUS_ICONS = {
    "stopped": "/repositoryDisabled.svg",
    "starting": "/mIconStopwatch.svg",
    "ready": "/mIconSuccess.svg",
    "busy": "/mIconStopwatch.svg",
    "crashed": "/mIconWarning.svg",
    "failed": "/mIconCritical.svg",
}
SETTINGS_CHANGED = "settings changed; the backend starts with the next request"


class RossamGeoPlugin:
    """ROS-SAM for QGIS: draw a box, get the object's polygon; plus a processing algorithm."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.toolbar: QToolBar | None = None
        self.actions: list[QAction] = []
        self.box_action: QAction | None = None
        self.status_action: QAction | None = None
        self.class_box: QComboBox | None = None
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
        self.box_action.setToolTip(
            "ROS-SAM: drag a box around an object; click on the object (left) or off it (right) to refine "
            "the outline shown; Enter keeps it, Esc drops it"
        )
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
        for action in (self.box_action, settings_action):
            self.iface.addPluginToMenu(MENU, action)
        self._show_state("stopped", "backend not started; it starts with the first request")
        self.class_box = self._class_box()
        self.toolbar.addWidget(self.class_box)

        self.map_tool = BoxMapTool(self.iface.mapCanvas())
        self.map_tool.setAction(self.box_action)
        self.map_tool.boxDrawn.connect(self.controller.refine_rect)
        self.map_tool.clicked.connect(self.controller.refine_click)
        self.map_tool.accepted.connect(self.controller.accept_refinement)
        self.map_tool.discarded.connect(self.controller.discard_refinement)

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
            self.iface.removePluginMenu(MENU, action)
            if self.toolbar is not None:
                self.toolbar.removeAction(action)
            action.deleteLater()
        self.actions = []
        self.box_action = self.status_action = None
        self.class_box = None
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

    def _class_box(self) -> QComboBox:
        box = QComboBox(self.toolbar)
        box.setEditable(True)
        box.setMinimumContentsLength(10)
        box.addItems(["", *CLASSES])
        box.lineEdit().setPlaceholderText("class")
        tip = "Class written to the 'class' field of the next boxes drawn (choose or type one; empty: none)"
        box.setToolTip(tip)
        box.lineEdit().setToolTip(tip)
        box.setCurrentText(PluginSettings.load().active_class)
        box.currentTextChanged.connect(self.set_active_class)
        return box

    def set_active_class(self, name: str) -> None:
        """Make ``name`` the class of the next boxes drawn (saved with the settings)."""
        settings = PluginSettings.load()
        settings.active_class = name.strip()
        settings.save()

    def _open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        engines = (self.client.info or {}).get("engines") if self.client is not None else None
        if SettingsDialog(self.iface.mainWindow(), engines=engines).exec_():
            self.settings_changed()

    def settings_changed(self) -> None:
        """Stop the backend so that the next request starts it with the new settings (clears its status);
        restyle the result layers with the score threshold."""
        restyle_result_layers(PluginSettings.load().min_score)
        if self.client is not None:
            self.client.stop(detail=SETTINGS_CHANGED)

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
        self.status_action.setData(state)
        self.status_action.setToolTip(f"ROS-SAM backend: {state}\n{detail}\nClick to check the backend.")

    def _show_crash(self, message: str) -> None:
        self.iface.messageBar().pushMessage(MESSAGE_TITLE, message, level=Qgis.Critical, duration=10)
