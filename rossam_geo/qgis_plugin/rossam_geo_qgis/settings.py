"""Plugin settings (QgsSettings under ``rossam_geo/``), project entries, and the backend command.

``rossam-geo qgis install`` writes ``rossam_geo/backend`` into a profile's QGIS3.ini (see
``rossam_geo/qgis_plugin/install.py``); keep the key names in step with it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields

from qgis.core import QgsProject, QgsSettings

PREFIX = "rossam_geo/"
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Classes offered in the toolbar's class box (any other name can be typed).
CLASSES = ("airplane", "ship", "car", "train")
#: Project entries: the chosen output layer's id (layer ids are per project), the GeoPackage new results
#: go to, and whether the user was asked for it already.
PROJECT_SCOPE = "rossam_geo"
PROJECT_OUTPUT_KEY, PROJECT_GPKG_KEY, PROJECT_ASKED_KEY = "output_layer_id", "output_gpkg", "output_asked"


@dataclass
class PluginSettings:
    """What the user chose in the settings dialog.

    Attributes:
        backend: the ``rossam-geo`` executable, or a Python interpreter that has rossam_geo installed
            ("" = ``rossam-geo`` found on PATH).
        engine: engine name (one of the ``engines`` of the backend's ``version`` reply).
        weights: weights file or registry name ("" = the engine's default).
        device: "auto", "cpu", "cuda" or "mps".
        crop_size: crop window side in pixels around each box (512 in the paper).
        active_class: class written to the ``class`` field of boxes drawn on the map ("" = none).
        min_score: results whose score (the engine's predicted IoU) is below this are flagged: their
            status is ``low_score`` and the output layer outlines them dashed (0 = flag none).
    """

    backend: str = ""
    engine: str = "rossam"
    weights: str = ""
    device: str = "auto"
    crop_size: int = 512
    active_class: str = ""
    min_score: float = 0.5

    @classmethod
    def load(cls) -> PluginSettings:
        """Read the settings, falling back to defaults (``ROSSAM_GEO_BACKEND`` overrides an empty backend)."""
        store = QgsSettings()
        defaults = cls()
        values = {}
        for f in fields(cls):
            default = getattr(defaults, f.name)
            value = store.value(PREFIX + f.name, default)
            values[f.name] = _typed(value, default)
        settings = cls(**values)
        if not settings.backend:
            settings.backend = os.environ.get("ROSSAM_GEO_BACKEND", "")
        return settings

    def save(self) -> None:
        store = QgsSettings()
        for f in fields(self):
            store.setValue(PREFIX + f.name, getattr(self, f.name))

    def backend_command(self) -> tuple[str, list[str]]:
        """(program, arguments) that start the backend worker.

        A Python interpreter runs ``-m rossam_geo.worker``; anything else is taken as the ``rossam-geo``
        executable and runs ``serve``.
        """
        program = self.backend or shutil.which("rossam-geo") or "rossam-geo"
        name = os.path.basename(program).lower()
        if name.startswith("python"):
            return program, ["-m", "rossam_geo.worker"]
        return program, ["serve"]

    def segment_options(self) -> dict[str, object]:
        """The ``options`` member of a ``segment`` request: the crop size, and ``min_score`` (when above 0)
        so that the backend marks results scored below it ``low_score``."""
        options: dict[str, object] = {"crop_size": self.crop_size}
        if self.min_score > 0:
            options["min_score"] = self.min_score
        return options

    def model_params(self) -> dict[str, object]:
        """The engine/weights/device members of a ``segment`` request."""
        params: dict[str, object] = {"engine": self.engine, "device": self.device}
        if self.weights:
            params["weights"] = self.weights
        return params


def _typed(value: object, default: object) -> object:
    """A stored setting as the type of its default (QSettings may give text back)."""
    if isinstance(default, int):
        return int(value)  # type: ignore[call-overload]
    if isinstance(default, float):
        return float(value)  # type: ignore[arg-type]
    return str(value if value is not None else "")


def project_entry(key: str) -> str:
    """A ROS-SAM entry of the current project ("" when unset)."""
    value, _ok = QgsProject.instance().readEntry(PROJECT_SCOPE, key, "")
    return str(value)


def set_project_entry(key: str, value: str | None) -> None:
    QgsProject.instance().writeEntry(PROJECT_SCOPE, key, value or "")


def output_layer_id() -> str:
    """Id of the output layer chosen for the current project ("" = the project's GeoPackage layer)."""
    return project_entry(PROJECT_OUTPUT_KEY)


def set_output_layer_id(layer_id: str | None) -> None:
    set_project_entry(PROJECT_OUTPUT_KEY, layer_id)
