"""Plugin settings (QgsSettings under ``rossam_geo/``) and how they turn into a backend command."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields

from qgis.core import QgsProject, QgsSettings

PREFIX = "rossam_geo/"
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Project entry holding the id of the chosen output layer (layer ids are per project).
PROJECT_SCOPE, PROJECT_OUTPUT_KEY = "rossam_geo", "output_layer_id"


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
    """

    backend: str = ""
    engine: str = "rossam"
    weights: str = ""
    device: str = "auto"
    crop_size: int = 512

    @classmethod
    def load(cls) -> PluginSettings:
        """Read the settings, falling back to defaults (``ROSSAM_GEO_BACKEND`` overrides an empty backend)."""
        store = QgsSettings()
        defaults = cls()
        values = {}
        for f in fields(cls):
            default = getattr(defaults, f.name)
            value = store.value(PREFIX + f.name, default)
            values[f.name] = (
                int(value) if isinstance(default, int) else str(value if value is not None else "")
            )
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

    def model_params(self) -> dict[str, object]:
        """The engine/weights/device members of a ``segment`` request."""
        params: dict[str, object] = {"engine": self.engine, "device": self.device}
        if self.weights:
            params["weights"] = self.weights
        return params


def output_layer_id() -> str:
    """Id of the output layer chosen for the current project ("" = a memory layer made on demand)."""
    value, _ok = QgsProject.instance().readEntry(PROJECT_SCOPE, PROJECT_OUTPUT_KEY, "")
    return str(value)


def set_output_layer_id(layer_id: str | None) -> None:
    QgsProject.instance().writeEntry(PROJECT_SCOPE, PROJECT_OUTPUT_KEY, layer_id or "")
