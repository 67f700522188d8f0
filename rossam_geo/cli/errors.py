"""How the commands report errors: one line on stderr saying what was wrong and how to fix it.

Every command's function is wrapped by :func:`user_errors`. rossam_geo's own errors are printed as they are,
an option named by its command-line flag (``--output-crs``, not ``output_crs``); errors of the operating
system (a full disk, a permission) and of the libraries below are turned into one line as well. Nothing the
user typed or gave ever shows a traceback: ``--verbose`` (or ``ROSSAM_GEO_TRACEBACK=1`` for commands
without it) prints it before the line, for a bug report. Messages are printed by click, unwrapped.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: environment variable that makes commands without --verbose print the traceback of an error.
TRACEBACK_ENV = "ROSSAM_GEO_TRACEBACK"
#: names the library gives options whose command-line flag is not derived from the options types.
EXTRA_FLAGS = {"output": "-o", "out_layer": "--layer-name", "scheduler": "--scheduler"}
#: exit status of a run in which some boxes (or track masks) failed and others succeeded.
EXIT_SOME_FAILED = 3
#: exit status of a run in which no box (or track mask) got a polygon.
EXIT_NONE_SUCCEEDED = 4


def option_flag(name: str) -> str:
    """The command-line flag of a library option (``output_crs`` -> ``--output-crs``); other names stay."""
    from rossam_geo.segmentation.options import PromptOptions, SegmentOptions

    for cls in (SegmentOptions, PromptOptions):
        for item in cls.__dataclass_fields__.values():
            if item.name == name:
                return str(item.metadata["flag"]).split("/")[0]
    return EXTRA_FLAGS.get(name, name)


def os_error_text(exc: OSError) -> str:
    """One line for an error of the operating system, with what to do."""
    where = f" {str(exc.filename)!r}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"cannot write{where}: the disk is full (or the quota is used up); free some space and run again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied:{where}; choose another path or fix its permissions"
    if exc.errno == errno.EROFS:
        return f"cannot write{where}: read-only file system; choose another path"
    if exc.errno == errno.ENOENT:
        return f"no such file or folder:{where}; check the path"
    return f"{exc.strerror or exc}:{where}" if exc.strerror else str(exc)


def error_text(exc: BaseException, *, verbose_hint: str) -> str:
    """The one line that reports ``exc``."""
    from rossam_geo.errors import OptionError, RossamError, explain

    if isinstance(exc, OptionError):
        text = exc.naming(option_flag(exc.option))
    elif isinstance(exc, RossamError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = os_error_text(exc)
    else:
        text = f"unexpected {type(exc).__name__}: {explain(exc, max_chars=300)}; {verbose_hint}"
    return " ".join(text.split())


def run_status(counts: Mapping[str, int], failed_units: int = 0) -> int:
    """The exit status of a run, from its number of features by status and of units (scenes, chunks) that
    failed whole: 0 when nothing failed, :data:`EXIT_SOME_FAILED` when something failed and something got a
    polygon (``ok`` or ``low_score``), :data:`EXIT_NONE_SUCCEEDED` when there was work and nothing got one."""
    succeeded = counts.get("ok", 0) + counts.get("low_score", 0)
    if sum(counts.values()) + failed_units == 0:
        return 0
    if succeeded == 0:
        return EXIT_NONE_SUCCEEDED
    return EXIT_SOME_FAILED if counts.get("failed", 0) or failed_units else 0


def user_errors(func: F) -> F:
    """Report any error of a command as one line (exit status 1); click's own usage errors (2), aborts and
    exits pass through. With a true ``verbose`` argument or ``ROSSAM_GEO_TRACEBACK=1``, the traceback comes
    first."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes one line
            has_verbose = "verbose" in kwargs
            if kwargs.get("verbose") or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
                traceback.print_exception(exc, file=sys.stderr)
            hint = (
                "run again with --verbose to see where it happened"
                if has_verbose
                else f"run again with {TRACEBACK_ENV}=1 to see where it happened"
            )
            raise click.ClickException(error_text(exc, verbose_hint=hint)) from None

    return wrapper  # type: ignore[return-value]
