"""Backend messages for QGIS users: command-line flags become the settings dialog's fields (no QGIS imports).

The backend shares its error messages with the ``rossam-geo`` command line, which names flags such as
``--weights PATH``; in QGIS the same choices are made in the ROS-SAM settings dialog.
"""

from __future__ import annotations

import re

#: JSON-RPC error code of weights errors (unknown, missing or mismatched weights).
WEIGHTS_ERROR = -32002

SETTINGS = "ROS-SAM settings"
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"pass `?--weights (?:PATH|NAME)`? with the path of"),
        f'set "Weights" in {SETTINGS} to the path of',
    ),
    (re.compile(r"with `?--weights (?:PATH|NAME)`?"), f'in "Weights" ({SETTINGS})'),
    (re.compile(r"`?--weights(?: (?:PATH|NAME))?`?"), f'"Weights" ({SETTINGS})'),
    (re.compile(r"`?--engine ([\w-]+)`?"), r'Engine "\1"'),
    (re.compile(r"`?--device ([\w:]+)`?"), r'Device "\1"'),
    (re.compile(r"`?--crop-size(?: \w+)?`?"), f'"Crop size" ({SETTINGS})'),
)


def for_dialog(message: str) -> str:
    """``message`` with the command line's flags replaced by the settings dialog's field names."""
    for pattern, replacement in _REWRITES:
        message = pattern.sub(replacement, message)
    return message


def backend_error_text(message: str, code: int | None, engine: str | None = None) -> str:
    """The message bar text of a backend error.

    Weights errors start by saying which engine needs weights and where to give them.
    """
    text = for_dialog(message)
    if code == WEIGHTS_ERROR and engine:
        return f'engine "{engine}" needs weights (the "Weights" field of {SETTINGS}): {text}'
    return text
