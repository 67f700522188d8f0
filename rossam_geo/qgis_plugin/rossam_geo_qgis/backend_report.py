"""What "Test backend" shows: the backend's ``version`` and ``environment`` answers as lines for users.

No QGIS imports: the texts are tested anywhere. Messages name the settings dialog's fields.
"""

from __future__ import annotations

import textwrap
from typing import Any

#: Characters per shown line; longer lines continue, indented, on the next ones.
LINE_CHARS = 90


def summary_lines(version: dict[str, Any], environment: dict[str, Any] | None) -> list[str]:
    """Version, Python, torch and devices, one fact a line."""
    lines = [f"rossam-geo {version.get('rossam_geo', '?')}, Python {version.get('python', '?')}"]
    if environment is None:
        lines.append("this backend does not describe its devices and engines; update its rossam-geo")
        return lines
    torch_version = environment.get("torch")
    lines[0] += f", torch {torch_version}" if torch_version else ", torch not installed"
    cuda = environment.get("cuda") or {}
    if cuda.get("available"):
        gpus = ", ".join(cuda.get("devices") or []) or "a GPU"
        lines.append(f"CUDA found: {gpus} (CUDA {cuda.get('version')})")
    elif torch_version and not cuda.get("version"):
        lines.append("CUDA not found: this torch is built without CUDA (CPU only)")
    else:
        lines.append("CUDA not found: no usable NVIDIA GPU or driver")
    if environment.get("mps"):
        lines.append("Apple MPS found")
    lines.append(f'Device "auto" uses: {environment.get("auto_device", "cpu")}')
    lines.append(f"Weights cache: {environment.get('cache_dir', '?')}")
    return lines


def engine_line(engine: dict[str, Any]) -> str:
    """One line saying what an engine needs and whether it is there."""
    name, needs, default = engine.get("name", "?"), engine.get("needs"), engine.get("default_weights")
    ready = bool(engine.get("ready"))
    if needs == "nothing":
        return f"{name}: ready, needs no weights"
    if needs == "bundled":
        if ready:
            return f"{name}: ready, bundled model {default}"
        return f'{name}: the bundled model is missing from this installation; set "Weights" to its weights'
    if needs == "registry":
        if ready:
            return f'{name}: ready, default weights {default} are downloaded (or set "Weights")'
        return (
            f'{name}: needs weights: set "Weights" to a checkpoint file, or download the default '
            f"{default} with: rossam-geo weights fetch {default}"
        )
    return f"{name}: {engine.get('detail') or 'no details'}"


def engine_lines(version: dict[str, Any], environment: dict[str, Any] | None) -> list[str]:
    """One line per engine (from ``environment``; names only from ``version`` when it is missing)."""
    if environment is None:
        return [f"{name}: no details from this backend" for name in version.get("engines", [])]
    return [engine_line(engine) for engine in environment.get("engines", [])]


def weights_choices(environment: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """(registry name, tooltip, cached) of each registry checkpoint, cached ones first."""
    if environment is None:
        return []
    choices = []
    for entry in environment.get("weights", []):
        cached = bool(entry.get("cached"))
        state = "downloaded" if cached else f"not downloaded (rossam-geo weights fetch {entry.get('name')})"
        tooltip = f"{entry.get('note', '')}; {entry.get('family')} {entry.get('arch')}; {state}"
        choices.append((str(entry.get("name")), tooltip, cached))
    return sorted(choices, key=lambda choice: not choice[2])


def wrapped(lines: list[str], width: int = LINE_CHARS) -> str:
    """``lines`` as one text, each wrapped at ``width`` characters with continuation lines indented."""
    out = []
    for line in lines:
        out += textwrap.wrap(line, width, subsequent_indent="    ", break_on_hyphens=False) or [""]
    return "\n".join(out)
