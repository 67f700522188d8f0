"""Rows of the bad-input table for ``rossam-geo segment`` (see :mod:`tests.cli.test_bad_input`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pyogrio
import pyproj

from tests.cli.bad_input_table import Case

BOX = ("--engine", "box")
#: the usual run: the tiny UTM scene, its two boxes (a GeoJSON in the scene's CRS), a new output.
RUN = ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", *BOX)
#: the same with pixel boxes from a CSV.
PIXEL_RUN = ("segment", "scene.tif", "pixel_boxes.csv", "--pixel", "-o", "out.gpkg", *BOX)
#: the WKT of the scene's CRS (about 1.5 kB), as a user would paste it.
UTM33_WKT = pyproj.CRS.from_epsg(32633).to_wkt()


def _default_mode(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def _preview_is_a_png_with_the_default_mode(root: Path) -> None:
    png = root / "preview.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _default_mode(png)


def _resumed_output_has_every_prompt_once(root: Path) -> None:
    table = pyogrio.read_dataframe(root / "interrupted.gpkg", read_geometry=False)
    assert sorted(table["prompt_id"]) == [0, 1] and set(table["status"]) == {"ok"}


def _statuses(name: str, expected: list[str]) -> object:
    def check(root: Path) -> None:
        table = pyogrio.read_dataframe(root / name, read_geometry=False)
        assert list(table["status"]) == expected, table[["status", "reason"]]

    return check


SEGMENT_CASES = [
    # ------------------------------------------------------------------ rasters (handled well already)
    Case(
        "segment-missing-raster",
        ("segment", "missing.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        2,
        r"Error: Invalid value for 'SCENE': Path 'missing.tif' does not exist",
    ),
    Case(
        "segment-renamed-raster",
        ("segment", "renamed.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot open raster 'renamed.tif' .*; use a format GDAL reads",
    ),
    Case(
        "segment-empty-raster",
        ("segment", "empty.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot open raster 'empty.tif'",
    ),
    Case(
        "segment-truncated-header",
        ("segment", "truncated_header.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot open raster 'truncated_header.tif' \(.*IO error",
    ),
    # ------------------------------------------------------------------ failed boxes carry the reason
    Case(
        "segment-truncated-pixels-every-box-fails-with-gdal-reason",
        ("segment", "truncated_data.tif", "pixel_boxes.csv", "--pixel", "-o", "out.gpkg", *BOX),
        4,
        r"2 x window could not be read: truncated_data.tif, band 1: IReadBlock failed .*"
        r"Read error at scanline \d+; got \d+ bytes, expected \d+$",
        creates=("out.gpkg",),
        max_lines=None,
        check=_statuses("out.gpkg", ["failed", "failed"]),
    ),
    Case(
        "segment-truncated-pixels-some-boxes-fail",
        ("segment", "tall_truncated.tif", "top_bottom.csv", "--pixel", "--crop-size", "16", "-o", "out.gpkg")
        + BOX,
        3,
        r"2 boxes: 1 ok, 0 skipped, 1 failed\n.*TIFFReadEncodedStrip",
        creates=("out.gpkg",),
        max_lines=None,
        check=_statuses("out.gpkg", ["ok", "failed"]),
    ),
    Case(
        "segment-every-box-outside-the-raster",
        ("segment", "scene.tif", "pixel_boxes.csv", "--prompts-crs", "EPSG:4326", "-o", "out.gpkg", *BOX),
        4,
        r"2 boxes: 0 ok, 2 skipped, 0 failed\n  2 x box is outside the raster \(64x48 px\)",
        creates=("out.gpkg",),
        max_lines=None,
    ),
    Case(
        "segment-weights-that-overflow-fail-each-box-with-a-reason",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--weights", "overflow.safetensors"),
        4,
        r"2 x engine output is not finite \(NaN or infinity\): the weights may be damaged",
        creates=("out.gpkg",),
        max_lines=None,
        check=_statuses("out.gpkg", ["failed", "failed"]),
    ),
    # ------------------------------------------------------------------ CRS options
    Case(
        "segment-prompts-crs-unknown-name",
        (*PIXEL_RUN[:3], "--prompts-crs", "foo", *PIXEL_RUN[4:]),
        1,
        r"^Error: --prompts-crs 'foo' is not a CRS pyproj knows; give an EPSG code such as EPSG:4326",
    ),
    Case(
        "segment-prompts-crs-unknown-code",
        (*PIXEL_RUN[:3], "--prompts-crs", "EPSG:999999", *PIXEL_RUN[4:]),
        1,
        r"^Error: --prompts-crs 'EPSG:999999' is not a CRS pyproj knows",
    ),
    Case(
        "segment-prompts-crs-with-pixel-prints-no-wkt",
        (*PIXEL_RUN, "--prompts-crs", UTM33_WKT),
        1,
        r"^Error: --prompts-crs 'PROJCRS\[\"WGS 84 / UTM zone 33N\",BASE\.\.\. and pixel coordinates "
        r"\(--pixel\) exclude each other; give one$",
    ),
    Case(
        "segment-output-crs-unknown-name-before-any-work",
        (*RUN, "--output-crs", "foo"),
        1,
        r"^Error: --output-crs 'foo' is not a CRS pyproj knows",
    ),
    Case(
        "segment-output-crs-unknown-code",
        (*RUN, "--output-crs", "EPSG:999999"),
        1,
        r"^Error: --output-crs 'EPSG:999999' is not a CRS pyproj knows",
    ),
    Case(
        "segment-output-crs-for-a-scene-without-crs",
        ("segment", "frame.png", "pixel_boxes.csv", "--pixel", "-o", "out.gpkg", "--output-crs", "EPSG:4326")
        + BOX,
        1,
        r"^Error: --output-crs 'EPSG:4326' cannot be used: scene 'frame.png' has no CRS, so its polygons are "
        r"in pixels; drop it$",
    ),
    Case(
        "segment-shapefile-without-crs",
        ("segment", "scene.tif", "no_crs.shp", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: prompt file 'no_crs.shp' has no CRS; pass --prompts-crs \(e.g. EPSG:4326\) or --pixel$",
    ),
    # ------------------------------------------------------------------ bands
    Case(
        "segment-band-the-scene-lacks",
        (*RUN, "--bands", "9"),
        1,
        r"^Error: --bands 9 asks for band 9, but 'scene.tif' has 3 band\(s\); give band numbers from 1 to 3$",
    ),
    Case(
        "segment-one-of-three-bands-the-scene-lacks",
        (*RUN, "--bands", "1,2,9"),
        1,
        r"^Error: --bands 1,2,9 asks for band 9, but 'scene.tif' has 3 band\(s\)",
    ),
    Case(
        "segment-bands-not-numbers",
        (*RUN, "--bands", "abc"),
        2,
        r"Invalid value for '--bands': 'abc' is not a comma-separated list of band numbers",
    ),
    Case(
        "segment-two-bands",
        (*RUN, "--bands", "1,2"),
        2,
        r"Invalid value for '--bands': give 1 band \(gray\) or 3 bands",
    ),
    Case("segment-band-zero", (*RUN, "--bands", "0"), 2, r"Invalid value for '--bands': give 1 band"),
    Case(
        "segment-two-band-scene-without-bands",
        ("segment", "two_band.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: raster 'two_band.tif' has 2 bands; choose the bands to use, e.g. --bands 1",
    ),
    # ------------------------------------------------------------------ other option values
    Case(
        "segment-crop-size-too-small",
        (*RUN, "--crop-size", "4"),
        1,
        r"^Error: --crop-size must be an integer of at least 8 pixels, got 4$",
    ),
    Case(
        "segment-crop-size-not-a-number",
        (*RUN, "--crop-size", "big"),
        2,
        r"Invalid value for '--crop-size': 'big' is not a valid integer",
    ),
    Case(
        "segment-upsample-zero",
        (*RUN, "--upsample", "0"),
        1,
        r"^Error: --upsample must be a positive number \(the paper uses 2\), got 0.0$",
    ),
    Case(
        "segment-upsample-nan",
        (*RUN, "--upsample", "nan"),
        1,
        r"^Error: --upsample must be a number, got nan$",
    ),
    Case(
        "segment-negative-min-region",
        (*RUN, "--min-region", "-1"),
        1,
        r"^Error: --min-region must be >= 0 pixels",
    ),
    Case(
        "segment-negative-simplify",
        (*RUN, "--simplify", "-1"),
        1,
        r"^Error: --simplify must be >= 0 pixels, got -1.0$",
    ),
    Case(
        "segment-batch-size-zero",
        (*RUN, "--batch-size", "0"),
        1,
        r"^Error: --batch-size must be at least 1, got 0$",
    ),
    Case(
        "segment-negative-polygon-workers",
        (*RUN, "--polygon-workers", "-1"),
        1,
        r"^Error: --polygon-workers must be >= 0, got -1$",
    ),
    Case(
        "segment-unknown-engine",
        (*RUN[:5], "--engine", "magic"),
        2,
        r"Invalid value for '--engine': 'magic' is not one of",
    ),
    Case(
        "segment-precision-for-a-weight-free-engine",
        (*RUN, "--precision", "bf16"),
        2,
        r"--precision: only for the .* engines, not 'box'",
    ),
    Case(
        "segment-weights-for-a-weight-free-engine",
        (*RUN, "--weights", "sam_vit_b"),
        1,
        r"^Error: .*uses no weights",
    ),
    # ------------------------------------------------------------------ layer names
    Case(
        "segment-empty-layer-name",
        (*RUN, "--layer-name", ""),
        1,
        r"^Error: --layer-name must be a non-empty name, got ''",
    ),
    Case(
        "segment-reserved-layer-name",
        (*RUN, "--layer-name", "gpkg_contents"),
        1,
        r"^Error: --layer-name 'gpkg_contents' starts with a name GeoPackage reserves",
    ),
    Case(
        "segment-layer-name-with-spaces",
        (*RUN, "--layer-name", " objects"),
        1,
        r"^Error: --layer-name ' objects' starts or ends with spaces; remove them$",
    ),
    Case(
        "segment-two-layer-prompts-name-the-prompt-layer-option",
        ("segment", "scene.tif", "two_layers.gpkg", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: 'two_layers.gpkg' has 2 layers \(ships, planes\); choose one with --prompt-layer$",
    ),
    Case(
        "segment-prompt-layer-not-in-the-file",
        ("segment", "scene.tif", "two_layers.gpkg", "--prompt-layer", "cars", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: layer 'cars' not found in 'two_layers.gpkg'; available layers: ships, planes$",
    ),
    Case(
        "segment-into-the-prompts-own-layer",
        (
            "segment",
            "scene.tif",
            "prompts.gpkg",
            "-o",
            "prompts.gpkg",
            "--layer-name",
            "boxes",
            "--append",
            *BOX,
        ),
        1,
        r"^Error: the output layer 'boxes' of 'prompts.gpkg' is the layer the prompts are read from",
    ),
    Case(
        "segment-class-field-not-in-the-prompts",
        (*RUN, "--class-field", "kind"),
        1,
        r"^Error: class field 'kind' not found; available columns: class$",
    ),
]
