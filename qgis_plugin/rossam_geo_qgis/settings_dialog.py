"""The ROS-SAM settings dialog: backend program, engine, weights, device, crop size, output layer."""

from __future__ import annotations

from qgis.core import QgsMapLayerProxyModel
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

from .settings import DEVICES, PluginSettings, output_layer_id, set_output_layer_id


class SettingsDialog(QDialog):
    """Edits :class:`PluginSettings` (QgsSettings) and the project's output layer.

    Args:
        parent: Qt parent.
        engines: the backend's engines (its ``version`` reply), when it has answered; the engine can also be
            typed.
    """

    def __init__(self, parent: QWidget | None = None, engines: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ROS-SAM settings")
        settings = PluginSettings.load()
        form = QFormLayout(self)

        self.backend = QgsFileWidget(self)
        self.backend.setFilePath(settings.backend)
        self.backend.setToolTip(
            "The rossam-geo executable, or a Python interpreter with rossam_geo installed. "
            "Empty: rossam-geo found on PATH."
        )
        form.addRow("Backend program", self.backend)

        self.engine = QComboBox(self)
        self.engine.setEditable(True)
        self.engine.addItems(list(engines or [settings.engine]))
        self.engine.setCurrentText(settings.engine)
        form.addRow("Engine", self.engine)

        self.weights = QgsFileWidget(self)
        self.weights.setFilePath(settings.weights)
        self.weights.setToolTip("Weights file or registry name; empty: the engine's default weights.")
        form.addRow("Weights", self.weights)

        self.device = QComboBox(self)
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(settings.device)
        form.addRow("Device", self.device)

        self.crop_size = QSpinBox(self)
        self.crop_size.setRange(64, 4096)
        self.crop_size.setSingleStep(64)
        self.crop_size.setSuffix(" px")
        self.crop_size.setValue(settings.crop_size)
        form.addRow("Crop size", self.crop_size)

        self.output_layer = QgsMapLayerComboBox(self)
        self.output_layer.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.output_layer.setAllowEmptyLayer(True)
        self.output_layer.setToolTip(
            "Polygon layer (e.g. a GeoPackage layer); empty: a 'ROS-SAM objects' memory layer"
        )
        self.output_layer.setLayer(None)
        layer_id = output_layer_id()
        if layer_id:
            from qgis.core import QgsProject

            self.output_layer.setLayer(QgsProject.instance().mapLayer(layer_id))
        form.addRow("Output layer", self.output_layer)

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> PluginSettings:
        """The settings as currently entered."""
        return PluginSettings(
            backend=self.backend.filePath().strip(),
            engine=self.engine.currentText().strip() or "rossam",
            weights=self.weights.filePath().strip(),
            device=self.device.currentText(),
            crop_size=int(self.crop_size.value()),
        )

    def accept(self) -> None:
        self.settings().save()
        layer = self.output_layer.currentLayer()
        set_output_layer_id(layer.id() if layer is not None else None)
        super().accept()
