"""Tracking annotations: MOT text, SatSOT/VISO single-object text, and the SAT-MTB ``boxes/*.npy`` layout.

Every reader returns :class:`TrackBox` records with boxes as pixel XYXY edges in the frame's pixel frame
(rasterio's convention: x right, y down, pixel (0, 0) covers [0, 1) x [0, 1)). Frame numbers are kept as the
annotations number them (MOT and SatSOT: 1-based).

Formats (see docs/video.md for examples):

* ``mot``: ``frame,id,x,y,w,h,conf[,class[,visibility...]]`` per line; x, y = top-left corner, w, h = size.
* ``sot``: one ``x,y,w,h`` line per frame (line k = frame k, 1-based) for a single object; ``NaN`` or a zero
  size marks the target absent. A folder of such files is one track per file.
* ``satmtb``: one ``.npy`` file per frame holding a float (N, 4) XYXY array, named like its frame
  (``000012.npy`` or ``000012_boxes.npy`` for frame image ``000012.png``); track id = row + 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rossam_geo.errors import PromptError
from rossam_geo.io.documents import read_npy
from rossam_geo.io.files import list_files, natural_key, read_text

__all__ = [
    "ANNOTATION_FORMATS",
    "AnnotationFormat",
    "TrackBox",
    "detect_format",
    "natural_key",
    "read_annotations",
    "read_mot",
    "read_satmtb_boxes",
    "read_sot",
]

AnnotationFormat = Literal["mot", "sot", "satmtb"]
ANNOTATION_FORMATS: tuple[str, ...] = ("mot", "sot", "satmtb")
_SPLIT = re.compile(r"[,\s;]+")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class TrackBox:
    """One annotated box of one track in one frame.

    Attributes:
        frame: frame number as the annotations give it (MOT/SatSOT: 1-based).
        track_id: object identity, constant along a track.
        box_px_xyxy: (xmin, ymin, xmax, ymax) pixel edges in the frame's pixel frame.
        class_name: object class, or None when the annotations carry none.
        confidence: the MOT ``conf`` column, None for formats without it.
    """

    frame: int
    track_id: int
    box_px_xyxy: tuple[float, float, float, float]
    class_name: str | None = None
    confidence: float | None = None


def _fields(line: str) -> list[str]:
    return [f for f in _SPLIT.split(line.strip()) if f != ""]


def _data_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(1-based line number, fields) of non-empty, non-comment lines."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"cannot read annotations {str(path)!r} ({exc}); check the path") from exc
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            out.append((number, _fields(line)))
    return out


def _float(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise PromptError(
            f"annotations {str(path)!r} line {line}: {text!r} is not a number; fix the line or choose "
            "another --format"
        ) from None


def _xywh_box(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float] | None:
    """XYXY edges of an x, y, w, h box; None when the box marks an absent target (NaN or no area)."""
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None
    return (x, y, x + w, y + h)


def read_mot(
    path: str | Path,
    *,
    class_name: str | None = None,
    class_names: dict[int, str] | None = None,
    min_confidence: float | None = None,
) -> list[TrackBox]:
    """Read MOT-style ``frame,id,x,y,w,h,conf[,class,...]`` lines.

    Args:
        path: text file (commas, tabs or spaces between fields).
        class_name: class given to every box; overrides the class column.
        class_names: class column value -> name (e.g. ``{1: "car"}``); without it the value itself is used.
            Negative class values mean "no class".
        min_confidence: keep only rows whose ``conf`` column is at least this.

    Returns:
        Boxes in file order; rows with NaN or zero-size boxes are left out (target absent).

    Raises:
        PromptError: a line with fewer than 6 fields or a non-numeric field.
    """
    path = Path(path)
    boxes = []
    for line, fields in _data_lines(path):
        if len(fields) < 6:
            raise PromptError(
                f"annotations {str(path)!r} line {line}: MOT lines need frame,id,x,y,w,h[,conf,class], got "
                f"{len(fields)} field(s); choose another --format if this is not a MOT file"
            )
        values = [_float(f, path, line) for f in fields[:8]]
        box = _xywh_box(*values[2:6])
        conf = values[6] if len(values) > 6 else None
        if box is None or (min_confidence is not None and conf is not None and conf < min_confidence):
            continue
        cls: str | None = class_name
        if cls is None and len(values) > 7 and math.isfinite(values[7]) and values[7] >= 0:
            code = int(values[7])
            cls = (class_names or {}).get(code, str(code))
        boxes.append(TrackBox(int(values[0]), int(values[1]), box, cls, conf))
    return boxes


def _track_id_from_name(path: Path) -> int | None:
    numbers = _NUMBER.findall(path.stem)
    return int(numbers[-1]) if numbers else None


def read_sot(
    path: str | Path,
    *,
    track_id: int | None = None,
    class_name: str | None = None,
    first_frame: int = 1,
) -> list[TrackBox]:
    """Read SatSOT/VISO-style single-object ``x,y,w,h`` lines (line k = frame ``first_frame + k - 1``).

    Args:
        path: one text file (one track), or a folder of ``*.txt`` files (one track each).
        track_id: id of the track (single file only); default: the last number in the file name, else 1
            (folders: else the file's position in natural order).
        class_name: class of every box.
        first_frame: number of the frame the first line belongs to.

    Returns:
        Boxes ordered by track then frame; NaN or zero-size lines (target absent) give no box.

    Raises:
        PromptError: a line without 4 numeric fields, or ``track_id`` with a folder.
    """
    path = Path(path)
    if path.is_dir():
        if track_id is not None:
            raise PromptError(
                f"track id {track_id} was given for the folder {str(path)!r} of single-object files; ids "
                "come from the file names there, so drop --track-id or pass one file"
            )
        files = list_files(path, pattern="*.txt")
        ids = [_track_id_from_name(f) for f in files]
        if None in ids or len(set(ids)) != len(ids):
            ids = list(range(1, len(files) + 1))
        out: list[TrackBox] = []
        for file, tid in zip(files, ids, strict=True):
            out.extend(read_sot(file, track_id=tid, class_name=class_name, first_frame=first_frame))
        return out
    tid = track_id if track_id is not None else (_track_id_from_name(path) or 1)
    boxes = []
    for index, (line, fields) in enumerate(_data_lines(path)):
        if len(fields) != 4:
            raise PromptError(
                f"annotations {str(path)!r} line {line}: single-object lines need x,y,w,h, got {len(fields)} "
                "field(s); choose another --format if this is not a SatSOT/VISO file"
            )
        box = _xywh_box(*(_float(f, path, line) for f in fields))
        if box is not None:
            boxes.append(TrackBox(first_frame + index, tid, box, class_name))
    return boxes


def _npy_stem(path: Path) -> str:
    stem = path.stem
    return stem[: -len("_boxes")] if stem.endswith("_boxes") else stem


def read_satmtb_boxes(
    path: str | Path,
    *,
    frame_stems: Sequence[str] | None = None,
    class_name: str | None = None,
) -> list[TrackBox]:
    """Read the SAT-MTB ``boxes/*.npy`` layout: one float (N, 4) XYXY array per frame.

    Args:
        path: a ``.npy`` file, a folder of them, or a dataset folder with a ``boxes/`` subfolder.
        frame_stems: frame file names without extension, in frame order (frame k = ``frame_stems[k-1]``);
            each ``.npy`` file is matched to the frame of the same stem (a ``_boxes`` suffix is ignored).
            None: frames numbered by the natural order of the ``.npy`` files.
        class_name: class of every box.

    Returns:
        Boxes with track id = row + 1 (the layout has no identities; rows are assumed to keep their order).

    Raises:
        PromptError: no ``.npy`` file, an array of the wrong shape, or a file matching no frame.
    """
    path = Path(path)
    if path.is_dir() and (path / "boxes").is_dir():
        path = path / "boxes"
    files = [path] if path.is_file() else list_files(path, pattern="*.npy")
    if not files:
        raise PromptError(f"no .npy box files in {str(path)!r}; the SAT-MTB layout keeps them in boxes/*.npy")
    numbers: dict[str, int] | None = None
    if frame_stems is not None:
        numbers = {stem: k for k, stem in enumerate(frame_stems, start=1)}
    boxes: list[TrackBox] = []
    for order, file in enumerate(files, start=1):
        stem = _npy_stem(file)
        if numbers is None:
            frame = order
        elif stem in numbers:
            frame = numbers[stem]
        else:
            raise PromptError(
                f"box file {file.name!r} matches no frame (looked for a frame named {stem!r}); name box "
                "files like their frames"
            )
        array = np.asarray(read_npy(file, "an (N, 4) array of XYXY boxes", PromptError), dtype=np.float64)
        if array.size == 0:
            continue
        if array.ndim != 2 or array.shape[1] != 4:
            raise PromptError(
                f"box file {str(file)!r} holds an array of shape {array.shape}; "
                "expected (N, 4) xmin,ymin,xmax,ymax"
            )
        for row, (x0, y0, x1, y1) in enumerate(array.tolist(), start=1):
            if all(math.isfinite(v) for v in (x0, y0, x1, y1)) and x1 > x0 and y1 > y0:
                boxes.append(TrackBox(frame, row, (x0, y0, x1, y1), class_name))
    return boxes


def detect_format(path: str | Path) -> AnnotationFormat:
    """Guess the annotation format of ``path``.

    ``.npy`` files and folders holding them (or a ``boxes/`` subfolder) are ``satmtb``; folders of ``.txt``
    files are ``sot``; a text file whose first data line has 4 fields is ``sot``, 6 or more fields ``mot``.

    Raises:
        PromptError: the path is missing or matches no format.
    """
    path = Path(path)
    if not path.exists():
        raise PromptError(f"annotations {str(path)!r} do not exist; check the path")
    if path.is_dir():
        if (path / "boxes").is_dir() or list_files(path, pattern="*.npy"):
            return "satmtb"
        if list_files(path, pattern="*.txt"):
            return "sot"
        raise PromptError(
            f"folder {str(path)!r} holds neither .npy box files nor .txt annotations; pass a MOT or SatSOT "
            "text file or a SAT-MTB boxes folder"
        )
    if path.suffix.lower() == ".npy":
        return "satmtb"
    lines = _data_lines(path)
    if lines:
        count = len(lines[0][1])
        if count == 4:
            return "sot"
        if count >= 6:
            return "mot"
    raise PromptError(
        f"cannot tell the format of annotations {str(path)!r}; pass --format with one of: "
        f"{', '.join(ANNOTATION_FORMATS)}"
    )


def _first_per_pair(boxes: Iterable[TrackBox]) -> list[TrackBox]:
    """Boxes with the first occurrence of each (frame, track_id) kept."""
    seen: set[tuple[int, int]] = set()
    kept = []
    for box in boxes:
        if (box.frame, box.track_id) not in seen:
            seen.add((box.frame, box.track_id))
            kept.append(box)
    return kept


def read_annotations(
    path: str | Path,
    *,
    format: AnnotationFormat | None = None,
    class_name: str | None = None,
    class_names: dict[int, str] | None = None,
    track_id: int | None = None,
    frame_stems: Sequence[str] | None = None,
    min_confidence: float | None = None,
) -> list[TrackBox]:
    """Read tracking annotations in any supported format, keeping one box per (frame, track).

    Args:
        path: annotation file or folder.
        format: ``"mot"``, ``"sot"`` or ``"satmtb"``; None detects it (:func:`detect_format`).
        class_name: class of every box (overrides a MOT class column).
        class_names: MOT class value -> name.
        track_id: track id for a single SatSOT/VISO file.
        frame_stems: frame names in order, to match SAT-MTB box files to frames.
        min_confidence: MOT rows below this ``conf`` are dropped.

    Returns:
        Boxes sorted by (frame, track_id); a repeated (frame, track_id) keeps its first box.

    Raises:
        PromptError: unknown format or unreadable annotations.
    """
    fmt = format or detect_format(path)
    if fmt == "mot":
        boxes = read_mot(path, class_name=class_name, class_names=class_names, min_confidence=min_confidence)
    elif fmt == "sot":
        boxes = read_sot(path, track_id=track_id, class_name=class_name)
    elif fmt == "satmtb":
        boxes = read_satmtb_boxes(path, frame_stems=frame_stems, class_name=class_name)
    else:
        raise PromptError(
            f"unknown annotation format {fmt!r}; choose one of: {', '.join(ANNOTATION_FORMATS)}"
        )
    return sorted(_first_per_pair(boxes), key=lambda b: (b.frame, b.track_id))
