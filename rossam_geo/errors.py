"""Errors raised by rossam_geo.

Every error derives from :class:`RossamError` and also from the built-in exception that fits it, so callers
may catch either. Messages say what was wrong and how to fix it.
"""

from __future__ import annotations


class RossamError(Exception):
    """Root of all rossam_geo errors."""


class InputError(RossamError, ValueError):
    """A user-supplied value (path, option, box, parameter) is invalid."""


class RasterError(InputError):
    """A raster cannot be opened or read as requested."""


class PromptError(InputError):
    """Prompt boxes cannot be read or interpreted (format, CRS, columns)."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or incompatible."""


class OptionError(InputError):
    """An option's value is not accepted.

    The message is ``f"{option} {detail}"``; a front end that knows the option by another name (the command
    line's ``--output-crs`` for ``output_crs``, the worker's ``options.output_crs``) words it with
    :meth:`naming`.

    Attributes:
        option: the option as the library names it (a field of ``SegmentOptions``, a keyword).
        detail: the rest of the message: the value given and what is accepted.
    """

    def __init__(self, option: str, detail: str) -> None:
        super().__init__(f"{option} {detail}")
        self.option = option
        self.detail = detail

    def naming(self, name: str) -> str:
        """The message with the option called ``name``."""
        return f"{name} {self.detail}"


class CRSOptionError(OptionError, CRSError):
    """An option names a CRS that pyproj does not know."""


class OutputExistsError(RossamError, FileExistsError):
    """An output file exists and neither overwrite nor append was requested."""


class OutputError(RossamError, OSError):
    """An output cannot be written: a read-only folder, a full disk, a write that failed midway."""


class EngineError(RossamError, RuntimeError):
    """A segmentation engine is unknown or failed to run."""


class NonFiniteOutput(EngineError):
    """An engine returned NaN or infinite mask logits (or an empty mask with a non-finite score) for a box."""

    def __init__(self) -> None:
        super().__init__(
            "engine output is not finite (NaN or infinity): the weights may be damaged or overflow at this "
            "precision; check them, or try --precision fp32"
        )


class CheckpointError(RossamError, ValueError):
    """A checkpoint file does not match the expected architecture or format."""


class WeightsError(RossamError, RuntimeError):
    """Model weights are unknown, missing from the cache, or fail verification."""


class DownloadError(WeightsError):
    """A weights download failed (network, HTTP status, size or checksum)."""


class ChecksumError(DownloadError):
    """A file's SHA-256 does not match the registry."""


class CancelledError(RossamError):
    """A run was cancelled before it finished (the worker's ``cancel`` request)."""


#: messages of library exceptions that only point at the one before them (rasterio's "Read failed. See
#: previous exception for details.").
_POINTERS = ("see previous exception",)


def explain(exc: BaseException, *, max_chars: int = 400) -> str:
    """One line saying why ``exc`` happened: its message followed by those of its causes (``raise ... from``
    and the exception being handled when it was raised), each once, leaving out messages that only point at
    another one; cut to ``max_chars`` characters.

    GDAL's own explanation of a failed read ("TIFFReadEncodedStrip: Read error at scanline ...; got 5620
    bytes, expected 8064") lives in the causes of rasterio's "Read failed. See previous exception for
    details."
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = " ".join(str(current).split()).rstrip(".")
        if text and not any(p in text.lower() for p in _POINTERS) and not any(text in p for p in parts):
            parts.append(text)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    line = ": ".join(parts) or type(exc).__name__
    return line if len(line) <= max_chars else line[: max_chars - 3] + "..."
