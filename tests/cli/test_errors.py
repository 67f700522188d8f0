"""How commands report errors: one line, options named by their flags, exit statuses of runs."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from rossam_geo.cli.errors import (
    EXIT_NONE_SUCCEEDED,
    EXIT_SOME_FAILED,
    error_text,
    option_flag,
    run_status,
    user_errors,
)
from rossam_geo.errors import OptionError, OutputError


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("output_crs", "--output-crs"),
        ("boxes_crs", "--prompts-crs"),
        ("min_region_px", "--min-region"),
        ("crop", "--crop"),
        ("layer", "--prompt-layer"),
        ("out_layer", "--layer-name"),
        ("something_else", "something_else"),
    ],
)
def test_options_are_named_by_their_flags(name: str, flag: str):
    assert option_flag(name) == flag


def test_error_texts_are_one_line():
    hint = "run again with --verbose"
    assert error_text(OptionError("upsample", "must be > 0, got 0"), verbose_hint=hint) == (
        "--upsample must be > 0, got 0"
    )
    assert error_text(OutputError("cannot write\nthe layer"), verbose_hint=hint) == "cannot write the layer"
    full = OSError(errno.ENOSPC, "No space left on device", "out.gpkg")
    assert error_text(full, verbose_hint=hint) == (
        "cannot write 'out.gpkg': the disk is full (or the quota is used up); free some space and run again"
    )
    assert error_text(TypeError("bad\noperand"), verbose_hint=hint) == (
        "unexpected TypeError: bad operand; run again with --verbose"
    )


@pytest.mark.parametrize(
    ("counts", "failed_units", "status"),
    [
        ({}, 0, 0),
        ({"ok": 3}, 0, 0),
        ({"ok": 2, "skipped": 1, "low_score": 1}, 0, 0),
        ({"ok": 2, "failed": 1}, 0, EXIT_SOME_FAILED),
        ({"ok": 2}, 1, EXIT_SOME_FAILED),
        ({"failed": 2}, 0, EXIT_NONE_SUCCEEDED),
        ({"skipped": 2}, 0, EXIT_NONE_SUCCEEDED),
        ({}, 1, EXIT_NONE_SUCCEEDED),
    ],
)
def test_run_status(counts: dict[str, int], failed_units: int, status: int):
    assert run_status(counts, failed_units) == status


@click.command()
@click.option("-v", "--verbose", is_flag=True)
@click.option("--fail", type=click.Choice(["option", "bug", "usage"]))
@user_errors
def _command(verbose: bool, fail: str) -> None:
    if fail == "option":
        raise OptionError("crop_size", "must be an integer of at least 8 pixels, got 4")
    if fail == "usage":
        raise click.UsageError("use either --a or --b")
    raise ZeroDivisionError("division by zero")


def test_user_errors_print_one_line_and_exit_1():
    result = CliRunner().invoke(_command, ["--fail", "option"])
    assert result.exit_code == 1
    assert result.output == "Error: --crop-size must be an integer of at least 8 pixels, got 4\n"


def test_unexpected_errors_show_the_traceback_only_with_verbose():
    quiet = CliRunner().invoke(_command, ["--fail", "bug"])
    assert quiet.exit_code == 1 and "Traceback" not in quiet.output
    assert quiet.output.splitlines() == [
        "Error: unexpected ZeroDivisionError: division by zero; run again with --verbose to see where it "
        "happened"
    ]
    loud = CliRunner().invoke(_command, ["--fail", "bug", "--verbose"])
    assert loud.exit_code == 1 and "Traceback" in loud.output and "ZeroDivisionError" in loud.output


def test_usage_errors_pass_through_with_status_2():
    result = CliRunner().invoke(_command, ["--fail", "usage"])
    assert result.exit_code == 2 and "use either --a or --b" in result.output
