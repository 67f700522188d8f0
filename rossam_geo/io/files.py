"""Finding files: folders listed in natural order, glob patterns, list files, and scenes given on a command
line; text files read whole."""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from pathlib import Path

from rossam_geo.errors import InputError

__all__ = [
    "SCENE_SUFFIXES",
    "expand_scenes",
    "list_files",
    "natural_key",
    "read_head",
    "read_head_bytes",
    "read_text",
]

#: File endings taken as scenes when a folder is given.
SCENE_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".png", ".jpg", ".jpeg")


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key ordering ``frame2`` before ``frame10`` (digit runs compared as numbers)."""
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p != "")


def list_files(folder: str | Path, suffixes: Sequence[str] | None = None, pattern: str = "*") -> list[Path]:
    """The files of ``folder`` matching ``pattern`` (and ending in one of ``suffixes``), in natural order."""
    wanted = tuple(s.lower() for s in suffixes) if suffixes is not None else None
    files = [
        p
        for p in Path(folder).glob(pattern)
        if p.is_file() and (wanted is None or p.suffix.lower() in wanted)
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_text(path: str | Path, what: str | None = None, error: type[Exception] = InputError) -> str:
    """The whole text of a UTF-8 file (a byte-order mark is dropped).

    Raises:
        ``error``: with ``what``, the file cannot be read or is not UTF-8 text; the message names ``what``
            it should be. Without ``what``, the ``OSError`` or ``UnicodeDecodeError`` itself.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        if what is None:
            raise
        raise error(f"cannot read {path.name!r} as {what}: {exc}") from None


def read_head(path: str | Path, n_chars: int = 4096) -> str:
    """The first ``n_chars`` characters of a UTF-8 text file (to tell formats apart)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(n_chars)


def read_head_bytes(path: str | Path, n_bytes: int = 4096) -> bytes:
    """The first ``n_bytes`` bytes of a file (to tell text from binary formats)."""
    with open(path, "rb") as f:
        return f.read(n_bytes)


def expand_scenes(specs: Sequence[str]) -> list[str]:
    """Scene paths from command-line values: files, folders (their rasters), glob patterns, ``@list.txt``.

    Args:
        specs: each a raster path, a folder (every file ending in :data:`SCENE_SUFFIXES`, natural order), a
            glob pattern (``scenes/*.tif``), or ``@file`` naming a text file with one path per line.

    Returns:
        Paths in the order given, without repeats.

    Raises:
        InputError: a value matches no file.
    """
    out: list[str] = []
    for spec in specs:
        if spec.startswith("@"):
            listing = Path(spec[1:])
            if not listing.is_file():
                raise InputError(f"scene list {str(listing)!r} does not exist; give one raster path per line")
            text = read_text(listing, "a list of scene paths")
            found = [line.strip() for line in text.splitlines() if line.strip()]
        elif Path(spec).is_dir():
            found = [str(p) for p in list_files(spec, SCENE_SUFFIXES)]
        elif Path(spec).exists():
            found = [spec]
        else:
            found = sorted(glob.glob(spec), key=lambda p: natural_key(Path(p).name))
        if not found:
            raise InputError(
                f"{spec!r} matches no scene; give raster files, a folder, a glob pattern or @list.txt"
            )
        out.extend(p for p in found if p not in out)
    return out
