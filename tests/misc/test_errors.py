"""The project's errors: one line with the causes that explain them, options named by the caller."""

from __future__ import annotations

import pytest

from rossam_geo.errors import CRSError, CRSOptionError, InputError, OptionError, OutputError, explain


def _chained() -> BaseException:
    try:
        try:
            try:
                raise ValueError(
                    "TIFFReadEncodedStrip:Read error at scanline 7; got 5620 bytes, expected 8064"
                )
            except ValueError as exc:
                raise RuntimeError("scene.tif, band 1: IReadBlock failed.") from exc
        except RuntimeError as exc:
            raise OSError("Read failed. See previous exception for details.") from exc
    except OSError as exc:
        return exc
    raise AssertionError("unreachable")


def test_explain_follows_the_causes_and_drops_pointers():
    assert explain(_chained()) == (
        "scene.tif, band 1: IReadBlock failed: TIFFReadEncodedStrip:Read error at scanline 7; got 5620 "
        "bytes, expected 8064"
    )


def test_explain_is_one_line_and_cut():
    error = ValueError("first line\nsecond line " + "x" * 500)
    text = explain(error, max_chars=60)
    assert "\n" not in text and len(text) == 60 and text.endswith("...")


def test_explain_skips_a_suppressed_context_and_repeats():
    try:
        try:
            raise KeyError("inner")
        except KeyError:
            raise InputError("outer") from None
    except InputError as exc:
        assert explain(exc) == "outer"
    assert explain(RuntimeError()) == "RuntimeError"


def test_option_errors_are_worded_with_the_callers_name():
    error = OptionError("output_crs", "'foo' is not a CRS pyproj knows")
    assert str(error) == "output_crs 'foo' is not a CRS pyproj knows"
    assert error.naming("--output-crs") == "--output-crs 'foo' is not a CRS pyproj knows"
    assert isinstance(error, InputError) and isinstance(error, ValueError)
    assert isinstance(CRSOptionError("x", "y"), CRSError)


def test_output_errors_are_os_errors():
    with pytest.raises(OSError, match="disk"):
        raise OutputError("cannot write: the disk is full")
