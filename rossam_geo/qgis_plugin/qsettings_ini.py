"""Editing a QSettings INI file (a QGIS profile's ``QGIS3.ini``) so that QSettings reads the same strings.

QSettings (Qt 5) writes string values with its own escapes: ``\\\\`` and ``\\"``, control characters and every
character outside ASCII as ``\\xHHHH`` (QGIS sets no INI codec), a hex digit right after such an escape as an
escape too, double quotes around values containing ``;``, ``,`` or ``=`` (else read back as a list) or with a
leading or trailing space, and a second ``@`` before values starting with ``@``. Lines of other sections and
keys are kept as they are, so a user's settings survive the edit.
"""

from __future__ import annotations

import re

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]*)\]\s*$")


def escape_value(value: str) -> str:
    """A string as QSettings writes it in an INI file (the text after ``key=``)."""
    if value.startswith("@"):
        value = "@" + value
    units = value.encode("utf-16-le")
    out: list[str] = []
    needs_quotes = False
    escape_next_if_hex = False
    for i in range(0, len(units), 2):
        code = int.from_bytes(units[i : i + 2], "little")
        char = chr(code)
        if char in ";,=":
            needs_quotes = True
        if escape_next_if_hex and char in _HEX_DIGITS:
            out.append(f"\\x{code:x}")
            continue
        escape_next_if_hex = False
        if code == 0:
            out.append("\\0")
            escape_next_if_hex = True
        elif char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif code <= 0x1F or code >= 0x7F:
            out.append(f"\\x{code:x}")
            escape_next_if_hex = True
        else:
            out.append(char)
    text = "".join(out)
    if needs_quotes or text.startswith(" ") or text.endswith(" "):
        text = f'"{text}"'
    return text


def set_values(text: str, section: str, values: dict[str, str | None]) -> str:
    """``text`` (an INI file) with ``values`` set in ``section`` (None: the key is removed).

    Keys already present are changed in place, new keys are appended to the section, and the section is
    appended when missing. Other lines are kept byte for byte (line endings included).
    """
    for key in [section, *values]:
        if not _PLAIN_KEY.match(key):
            raise ValueError(f"INI section or key {key!r} needs escaping, which this editor does not do")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    start, end = _section_span(lines, section)
    pending = dict(values)
    if start is None:
        new = [f"{k}={escape_value(v)}{newline}" for k, v in pending.items() if v is not None]
        if not new:
            return "".join(lines)
        gap = [newline] if lines and lines[-1].strip() else []
        return "".join([*lines, *gap, f"[{section}]{newline}", *new])
    body = []
    for line in lines[start + 1 : end]:
        line_key = line.split("=", 1)[0].strip() if "=" in line else None
        if line_key is not None and line_key in pending:
            value = pending.pop(line_key)
            if value is not None:
                body.append(f"{line_key}={escape_value(value)}{newline}")
            continue
        body.append(line)
    while body and not body[-1].strip():
        body.pop()
    body += [f"{k}={escape_value(v)}{newline}" for k, v in pending.items() if v is not None]
    tail = lines[end:]
    if tail:
        body.append(newline)
    return "".join([*lines[: start + 1], *body, *tail])


def remove_section(text: str, section: str) -> str:
    """``text`` without ``section`` (its header and keys); unchanged when it has no such section."""
    lines = text.splitlines(keepends=True)
    start, end = _section_span(lines, section)
    if start is None:
        return text
    return "".join(lines[:start] + lines[end:])


def _section_span(lines: list[str], section: str) -> tuple[int | None, int]:
    """(index of the ``[section]`` line or None, index of the next section's line or len(lines))."""
    start = None
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if match is None:
            continue
        if start is not None:
            return start, index
        if match.group("name") == section:
            start = index
    return start, len(lines)
