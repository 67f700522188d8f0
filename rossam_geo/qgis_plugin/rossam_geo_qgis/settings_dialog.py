"""The ROS-SAM settings dialog: backend (with "Test backend"), engine, weights, device, crop size, output.

It asks the backend in the field (not the running one) what it has: version, devices, and per engine what
it needs (nothing, the bundled model, registry weights and whether they are downloaded); the registry's
names fill the Weights list.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication, QgsMapLayerProxyModel, QgsProject
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .backend import BackendClient, BackendError
from .backend_report import engine_lines, summary_lines, weights_choices, wrapped
from .output_layer import default_gpkg_path, non_output_layers
from .settings import (
    DEVICES,
    PROJECT_GPKG_KEY,
    PluginSettings,
    output_layer_id,
    project_entry,
    set_output_layer_id,
    set_project_entry,
)
from .tasks import ProbeTask

TIPS = {
    "backend": "The backend runs the model in your own Python environment: the rossam-geo executable of that "
    "environment (e.g. ~/venvs/sam/bin/rossam-geo, or ...\\Scripts\\rossam-geo.exe on Windows), or its "
    "Python interpreter. 'rossam-geo qgis install' fills this in. Empty: rossam-geo found on PATH.",
    "test": "Start the backend in the field and ask it for its version, devices and engines.",
    "engine": "rossam: the bundled ROS-SAM model, ready without downloads. sam / hq-sam: official Segment "
    "Anything checkpoints (set Weights, or download them). grabcut: classic, no model. box: the box itself.",
    "weights": "A checkpoint file, or a registry name such as sam_vit_b (downloaded with 'rossam-geo "
    "weights fetch NAME'). Empty: the engine's default weights.",
    "device": "auto: CUDA if found, else Apple MPS, else the CPU.",
    "crop_size": "Largest side, in raster pixels, of the window segmented around each box (512 in the "
    "ROS-SAM paper). The window is also at most the model's input divided by the sampling rate (64 px for "
    "the bundled compact model) and grows for larger boxes; the results' crop_size field records the window "
    "used.",
    "min_score": "Results whose score (the engine's predicted IoU of its mask) is below this are flagged: "
    "their status is low_score and the output layer outlines them dashed. The SAM-family engines predict "
    "it; box and grabcut always score 1.0. 0: flag none.",
    "output_layer": "Polygon layer the results are added to. Only layers with the result fields (prompt_id, "
    "status) are offered, so box layers are not. Empty: the layer rossam_objects of the output GeoPackage.",
    "gpkg": "GeoPackage that keeps the results when no output layer is chosen (a layer rossam_objects is "
    "added to it; its other layers are left alone). Empty: <project>_rossam.gpkg next to the saved project, "
    "or asked at the first box.",
}


def _with_tip(widget: QWidget, key: str) -> QWidget:
    """Set the tooltip on ``widget`` and on its line edit, where the mouse actually rests."""
    widget.setToolTip(TIPS[key])
    line_edit = getattr(widget, "lineEdit", None)
    if callable(line_edit) and line_edit() is not None:
        line_edit().setToolTip(TIPS[key])
    return widget


class SettingsDialog(QDialog):
    """Edits :class:`PluginSettings` (QgsSettings) and the project's output layer and GeoPackage.

    Args:
        parent: parent widget.
        test_on_open: run "Test backend" as soon as the dialog opens.
        engines: the engines of the running backend's ``version`` reply, when it has answered; the list is
            filled from the tested backend's reply once it answers.
    """

    def __init__(
        self, parent: QWidget | None = None, test_on_open: bool = True, engines: list[str] | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("ROS-SAM settings")
        self.setMinimumWidth(760)
        self._loaded = PluginSettings.load()
        self._engines = list(engines or [])
        self._probe: ProbeTask | None = None
        self.probe_result: tuple[Any, Any, BackendError | None] | None = None
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SetMinimumSize)  # grows with the backend's answer
        layout.addWidget(self._backend_group())
        layout.addWidget(self._model_group())
        layout.addWidget(self._output_group())
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if test_on_open:
            QTimer.singleShot(0, self.test_backend)

    # ---------------------------------------------------------------------------------------------- layout
    def _backend_group(self) -> QGroupBox:
        group = QGroupBox("Backend", self)
        form = _form(group)
        self.backend = QgsFileWidget(group)
        self.backend.setFilePath(self._loaded.backend)
        self.backend.setDialogTitle("Backend program: rossam-geo, or a Python with rossam_geo installed")
        self.backend.lineEdit().setPlaceholderText("rossam-geo found on PATH")
        _wide(self.backend.lineEdit())
        self.test_button = QPushButton("Test backend", group)
        _with_tip(self.test_button, "test")
        self.test_button.clicked.connect(self.test_backend)
        row = QHBoxLayout()
        row.addWidget(_with_tip(self.backend, "backend"), 1)
        row.addWidget(self.test_button)
        form.addRow("Backend program", row)
        self.backend_status = _info_label(group, 'Press "Test backend" to check the backend.')
        form.addRow("Status", self.backend_status)
        return group

    def _model_group(self) -> QGroupBox:
        group = QGroupBox("Model", self)
        form = _form(group)
        self.engine = QComboBox(group)
        self._fill_engines(self._engines)
        form.addRow("Engine", _with_tip(self.engine, "engine"))
        self.engine_info = _info_label(group, "What each engine needs shows here once the backend answers.")
        form.addRow("Engines", self.engine_info)

        self.weights = QComboBox(group)
        self.weights.setEditable(True)
        self.weights.setInsertPolicy(QComboBox.NoInsert)
        self.weights.lineEdit().setPlaceholderText("the engine's default weights")
        _wide(self.weights)
        self.weights.setEditText(self._loaded.weights)
        browse = QToolButton(group)
        browse.setText("…")
        browse.setToolTip("Choose a weights file")
        browse.clicked.connect(self._browse_weights)
        row = QHBoxLayout()
        row.addWidget(_with_tip(self.weights, "weights"), 1)
        row.addWidget(browse)
        form.addRow("Weights", row)

        self.device = QComboBox(group)
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(self._loaded.device)
        form.addRow("Device", _with_tip(self.device, "device"))
        self.crop_size = QSpinBox(group)
        self.crop_size.setRange(64, 4096)
        self.crop_size.setSingleStep(64)
        self.crop_size.setSuffix(" px")
        self.crop_size.setValue(self._loaded.crop_size)
        form.addRow("Crop size", _with_tip(self.crop_size, "crop_size"))
        self.min_score = QDoubleSpinBox(group)
        self.min_score.setRange(0.0, 1.0)
        self.min_score.setSingleStep(0.05)
        self.min_score.setDecimals(2)
        self.min_score.setValue(self._loaded.min_score)
        form.addRow("Flag results with score below", _with_tip(self.min_score, "min_score"))
        return group

    def _output_group(self) -> QGroupBox:
        group = QGroupBox("Output", self)
        form = _form(group)
        self.output_layer = QgsMapLayerComboBox(group)
        self.output_layer.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.output_layer.setExceptedLayerList(non_output_layers())
        self.output_layer.setAllowEmptyLayer(True)
        self.output_layer.setLayer(None)
        if output_layer_id():
            self.output_layer.setLayer(QgsProject.instance().mapLayer(output_layer_id()))
        form.addRow("Output layer", _with_tip(self.output_layer, "output_layer"))
        self.gpkg = QgsFileWidget(group)
        self.gpkg.setStorageMode(QgsFileWidget.SaveFile)
        self.gpkg.setConfirmOverwrite(False)
        self.gpkg.setFilter("GeoPackage (*.gpkg)")
        self.gpkg.setFilePath(project_entry(PROJECT_GPKG_KEY))
        self.gpkg.lineEdit().setPlaceholderText(default_gpkg_path() or "asked at the first box")
        _wide(self.gpkg.lineEdit())
        form.addRow("Output GeoPackage", _with_tip(self.gpkg, "gpkg"))
        return group

    # ------------------------------------------------------------------------------------------ test backend
    def test_backend(self) -> None:
        """Ask the backend in the field for its version and environment (in a task; the dialog stays live)."""
        if self._probe is not None:
            return
        settings = self.settings()
        self.backend_status.setText(f"starting {settings.backend_command()[0]} …")
        self.test_button.setEnabled(False)
        self.probe_result = None
        self._probe = start_probe(settings, self._probe_done)

    def _probe_done(self, version: Any, environment: Any, error: BackendError | None) -> None:
        if sip.isdeleted(self):
            return
        self._probe = None
        self.probe_result = (version, environment, error)
        self.test_button.setEnabled(True)
        if error is not None or version is None:
            self.backend_status.setText(wrapped([error.message if error is not None else "no answer"]))
            return
        self.backend_status.setText(wrapped(summary_lines(version, environment)))
        self._fill_engines(list(version.get("engines") or []))
        lines = engine_lines(version, environment)
        self.engine_info.setText(wrapped(lines))
        for line in lines:
            index = self.engine.findText(line.split(":", 1)[0])
            if index >= 0:
                self.engine.setItemData(index, line, Qt.ToolTipRole)
        self._fill_weights(weights_choices(environment))

    def _fill_engines(self, engines: list[str]) -> None:
        """Offer the backend's engines (the chosen one stays, also when the backend does not know it)."""
        chosen = self.engine.currentText() or self._loaded.engine
        self.engine.clear()
        self.engine.addItems(engines)
        if chosen not in engines:
            self.engine.addItem(chosen)
        self.engine.setCurrentText(chosen)

    def _fill_weights(self, choices: list[tuple[str, str, bool]]) -> None:
        text = self.weights.currentText()
        self.weights.clear()
        for name, tooltip, cached in choices:
            icon = "/mIconSuccess.svg" if cached else "/downloading_svg.svg"
            self.weights.addItem(QgsApplication.getThemeIcon(icon), name)
            self.weights.setItemData(self.weights.count() - 1, tooltip, Qt.ToolTipRole)
        self.weights.setCurrentIndex(-1)
        self.weights.setEditText(text)

    def _browse_weights(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Weights file", "", "Checkpoints (*.pth *.pt *.safetensors *.ckpt);;All files (*)"
        )
        if path:
            self.weights.setEditText(path)

    # ------------------------------------------------------------------------------------------------ result
    def settings(self) -> PluginSettings:
        """The settings as currently entered."""
        return PluginSettings(
            backend=self.backend.filePath().strip(),
            engine=self.engine.currentText().strip() or "rossam",
            weights=self.weights.currentText().strip(),
            device=self.device.currentText(),
            crop_size=int(self.crop_size.value()),
            min_score=float(self.min_score.value()),
            active_class=self._loaded.active_class,
        )

    def accept(self) -> None:
        self.settings().save()
        layer = self.output_layer.currentLayer()
        set_output_layer_id(layer.id() if layer is not None else None)
        set_project_entry(PROJECT_GPKG_KEY, self.gpkg.filePath().strip())
        super().accept()

    def done(self, result: int) -> None:
        if self._probe is not None:
            self._probe.cancel()
        super().done(result)


#: Probes still running, with their clients: kept alive here, since the dialog may close (and be deleted)
#: before they finish.
_RUNNING: dict[ProbeTask, BackendClient] = {}


def start_probe(settings: PluginSettings, on_done: Any) -> ProbeTask:
    """Start a backend with ``settings``' program, ask it for version and environment, then stop it."""
    client = BackendClient(settings.backend_command)

    def finished(version: Any, environment: Any, error: BackendError | None) -> None:
        _RUNNING.pop(task, None)
        client.stop(timeout_ms=0)  # it answered: nothing to finish, so no graceful shutdown to wait for
        client.deleteLater()
        on_done(version, environment, error)

    task = ProbeTask(client, finished)
    _RUNNING[task] = client
    QgsApplication.taskManager().addTask(task)
    return task


#: Characters a path field shows at least (a full environment path, not "v/bin/rossam-geo").
PATH_FIELD_CHARS = 64


def _wide(widget: QWidget) -> None:
    widget.setMinimumWidth(widget.fontMetrics().averageCharWidth() * PATH_FIELD_CHARS)


def _form(group: QGroupBox) -> QFormLayout:
    form = QFormLayout(group)
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    return form


def _info_label(parent: QWidget, text: str) -> QLabel:
    label = QLabel(text, parent)  # no word wrap: texts come wrapped, so the dialog's size fits them
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label
