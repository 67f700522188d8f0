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


class OutputExistsError(RossamError, FileExistsError):
    """An output file exists and neither overwrite nor append was requested."""


class EngineError(RossamError, RuntimeError):
    """A segmentation engine is unknown or failed to run."""


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
