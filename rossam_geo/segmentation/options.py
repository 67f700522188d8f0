"""The options of the segment use case, listed once: :class:`SegmentOptions` (how a scene is segmented) and
:class:`PromptOptions` (how prompt files are read), with every value checked here.

The command line builds its options from these fields (each field's metadata holds its flag and help), the
worker checks a request's JSON ``options`` object against them, and the Python API, Dask and tracks take
them as they are. Every check raises :class:`rossam_geo.errors.InputError` with a one-line message naming
the option, the value given and what is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from rossam_geo.errors import InputError, OptionError
from rossam_geo.pipeline.polygons import DEFAULT_MIN_REGION_PX
from rossam_geo.validate import parse_crs, shorten

__all__ = [
    "PromptOptions",
    "SegmentOptions",
    "check_crs",
    "check_layer_name",
    "option_names",
]

#: names GeoPackage reserves for its own tables; an output layer may not start with them.
RESERVED_LAYER_PREFIXES = ("gpkg_", "rtree_", "sqlite_")


def _option(default: Any, flag: str, help: str, **extra: Any) -> Any:
    """A dataclass field with its command-line flag and help in the metadata."""
    return field(default=default, metadata={"flag": flag, "help": help, **extra})


def check_crs(value: Any, what: str) -> str | None:
    """A CRS as given (EPSG code, WKT, PROJ string...), checked with pyproj; None stays None.

    Raises:
        OptionError: not text, or not a CRS pyproj knows (a :class:`~rossam_geo.errors.CRSError` too).
    """
    if value is None:
        return None
    import pyproj

    text = value.to_wkt() if isinstance(value, pyproj.CRS) else value
    if not isinstance(text, str):
        raise OptionError(what, f"must be a CRS such as 'EPSG:4326' (text), got {shorten(value)}")
    parse_crs(text, option=what)
    return text


def check_layer_name(value: Any, what: str) -> str:
    """A layer name: non-empty text, no surrounding spaces, not one of GeoPackage's own table names.

    Raises:
        OptionError: anything else.
    """
    if not isinstance(value, str) or not value.strip():
        raise OptionError(
            what, f"must be a non-empty name, got {shorten(value)}; name the layer, e.g. objects"
        )
    if value != value.strip():
        raise OptionError(what, f"{value!r} starts or ends with spaces; remove them")
    if value.lower().startswith(RESERVED_LAYER_PREFIXES):
        raise OptionError(
            what,
            f"{value!r} starts with a name GeoPackage reserves ({', '.join(RESERVED_LAYER_PREFIXES)}); "
            "choose another name",
        )
    return value


def _number(value: Any, what: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        kind = "an integer" if integer else "a number"
        raise OptionError(what, f"must be {kind}, got {shorten(value)}")
    if integer and not float(value).is_integer():
        raise OptionError(what, f"must be an integer, got {value!r}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError(what, f"must be true or false, got {shorten(value)}")
    return value


@dataclass(frozen=True)
class SegmentOptions:
    """How a scene is segmented: the windows, the engine's batches, the polygons and their CRS.

    Values are checked when the object is made (see the module docstring); ``bands`` becomes a tuple.
    """

    crop_size: int = _option(512, "--crop-size", "Side of the window around each box, in raster pixels.")
    upsample: float = _option(2.0, "--upsample", "Raster-to-model sampling rate (bicubic), never exceeded.")
    crop: bool = _option(
        True,
        "--crop/--no-crop",
        "Crop a window around each box, or resize the whole raster to the model input (reads it whole).",
    )
    batch_size: int | None = _option(
        None, "--batch-size", "Boxes per model call (default: the engine's own)."
    )
    bands: tuple[int, ...] | None = _option(
        None, "--bands", "1-based bands used as RGB (e.g. 4,3,2) or one band as gray (default: 1,2,3)."
    )
    simplify_px: float = _option(0.0, "--simplify", "Simplify polygons with this tolerance in pixels.")
    all_parts: bool = _option(
        False, "--all-parts/--largest-part", "Keep every mask part overlapping the box, or only the largest."
    )
    min_region_px: float = _option(
        DEFAULT_MIN_REGION_PX,
        "--min-region",
        "Remove holes and extra parts smaller than this many pixels before polygonizing (0: keep them).",
    )
    min_score: float | None = _option(
        None,
        "--min-score",
        "Mark results whose score is below this as low_score (their polygon is kept).",
    )
    output_crs: str | None = _option(
        None, "--output-crs", "CRS of the output polygons (default: the scene's)."
    )
    polygon_workers: int | None = _option(
        None,
        "--polygon-workers",
        "CPU workers making polygons (default: automatic; 0: in the main process).",
    )

    def __post_init__(self) -> None:
        crop_size = _number(self.crop_size, "crop_size", integer=True)
        if crop_size < 8:
            raise OptionError("crop_size", f"must be an integer of at least 8 pixels, got {self.crop_size!r}")
        if not _number(self.upsample, "upsample") > 0:
            raise OptionError(
                "upsample", f"must be a positive number (the paper uses 2), got {self.upsample!r}"
            )
        _flag(self.crop, "crop")
        _flag(self.all_parts, "all_parts")
        if self.batch_size is not None and _number(self.batch_size, "batch_size", integer=True) < 1:
            raise OptionError("batch_size", f"must be at least 1, got {self.batch_size!r}")
        if _number(self.simplify_px, "simplify_px") < 0:
            raise OptionError("simplify_px", f"must be >= 0 pixels, got {self.simplify_px!r}")
        if _number(self.min_region_px, "min_region_px") < 0:
            raise OptionError(
                "min_region_px", f"must be >= 0 pixels (0 keeps every hole), got {self.min_region_px!r}"
            )
        if self.min_score is not None:
            _number(self.min_score, "min_score")
        if (
            self.polygon_workers is not None
            and _number(self.polygon_workers, "polygon_workers", integer=True) < 0
        ):
            raise OptionError("polygon_workers", f"must be >= 0, got {self.polygon_workers!r}")
        object.__setattr__(self, "bands", _check_bands(self.bands))
        object.__setattr__(self, "output_crs", check_crs(self.output_crs, "output_crs"))
        for name in ("crop_size", "batch_size", "polygon_workers"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, int(value))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], what: str = "option") -> SegmentOptions:
        """Options from keyword or JSON values, naming the valid options when one is unknown.

        Raises:
            InputError: an unknown option or a bad value.
        """
        return cls(**_known(cls, values, what))

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON values (``bands`` as a list)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if values["bands"] is not None:
            values["bands"] = list(values["bands"])
        return values


def _check_bands(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise OptionError(
            "bands", f"must be a list of 1 or 3 band numbers, e.g. [4, 3, 2], got {shorten(value)}"
        )
    bands = tuple(value)
    if len(bands) not in (1, 3) or not all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bands
    ):
        raise OptionError(
            "bands", f"must be 1 band (gray) or 3 bands (red, green, blue), 1-based; got {shorten(value)}"
        )
    return bands


@dataclass(frozen=True)
class PromptOptions:
    """How prompt files and values are read.

    Attributes:
        boxes_crs: CRS of box coordinates that carry none (CSV, arrays, a frame without CRS).
        layer: the layer of a multi-layer prompt file.
        class_field: the prompt attribute holding the class.
        pixel: prompt coordinates are scene pixels (x right, y down).
    """

    boxes_crs: str | None = _option(None, "--prompts-crs", "CRS of CSV prompt coordinates (e.g. EPSG:4326).")
    layer: str | None = _option(None, "--prompt-layer", "Layer of a multi-layer prompt file.")
    class_field: str | None = _option(
        None, "--class-field", "Prompt attribute holding the class (default: class/label)."
    )
    pixel: bool = _option(
        False, "--pixel", "Prompt coordinates are scene pixels (x right, y down).", is_flag=True
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes_crs", check_crs(self.boxes_crs, "boxes_crs"))
        if self.layer is not None:
            check_layer_name(self.layer, "layer")
        if self.class_field is not None and (not isinstance(self.class_field, str) or not self.class_field):
            raise OptionError("class_field", f"must be a non-empty name, got {shorten(self.class_field)}")
        _flag(self.pixel, "pixel")
        if self.pixel and self.boxes_crs is not None:
            raise OptionError(
                "boxes_crs",
                f"{shorten(self.boxes_crs, 40)} and pixel coordinates (--pixel) exclude each other; give one",
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], what: str = "option") -> PromptOptions:
        """Options from keyword values, naming the valid ones when one is unknown."""
        return cls(**_known(cls, values, what))


def option_names(cls: type[SegmentOptions] | type[PromptOptions]) -> tuple[str, ...]:
    """The option names of ``cls``, in order."""
    return tuple(f.name for f in fields(cls))


def _known(cls: Any, values: Mapping[str, Any], what: str) -> dict[str, Any]:
    valid = option_names(cls)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise InputError(f"unknown {what}(s) {', '.join(unknown)}; valid {what}s: {', '.join(valid)}")
    return dict(values)


def defaults(cls: type[SegmentOptions] | type[PromptOptions]) -> dict[str, Any]:
    """Option name -> default value."""
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}
