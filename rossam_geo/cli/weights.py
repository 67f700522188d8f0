"""``rossam-geo weights``: list, download, verify and locate the official SAM / HQ-SAM checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rossam_geo.cli.errors import user_errors

if TYPE_CHECKING:
    from rossam_geo.weights import WeightsEntry

_F = TypeVar("_F", bound=Callable[..., Any])
_HASH_PREFIX_CHARS = 16


def _cache_dir_option(func: _F) -> _F:
    option = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Weights cache folder (default: $ROSSAM_GEO_CACHE, else the user cache folder).",
    )
    return option(func)


@click.group("weights")
def weights() -> None:
    """List, download, verify and locate the official SAM and HQ-SAM checkpoints."""


@weights.command("list")
@_cache_dir_option
@user_errors
def list_command(cache_dir: Path | None) -> None:
    """Show the registered checkpoints, their checksums and whether they are cached."""
    from rich.console import Console
    from rich.filesize import decimal
    from rich.table import Table

    from rossam_geo.errors import RossamError
    from rossam_geo.weights import PART_SUFFIX, REGISTRY, expected_hash
    from rossam_geo.weights import cache_dir as resolve_cache_dir

    folder = resolve_cache_dir(cache_dir)
    table = Table(title=f"Weights cache: {folder}")
    for column in ("name", "family", "arch", "size", "SHA-256", "cached", "path"):
        table.add_column(column, no_wrap=column in ("name", "SHA-256"))
    for entry in REGISTRY.values():
        target = folder / entry.filename
        part = folder / (entry.filename + PART_SUFFIX)
        try:
            expected = expected_hash(entry, folder)
        except RossamError as exc:
            raise click.ClickException(str(exc)) from None
        if expected.sha256 is None:
            hash_cell = "not published"
        else:
            label = "published" if expected.source == "published" else "recorded locally, not published"
            hash_cell = f"{expected.sha256[:_HASH_PREFIX_CHARS]}… ({label})"
        if target.is_file():
            cached = "yes"
        elif part.is_file():
            cached = f"partial ({decimal(part.stat().st_size)})"
        else:
            cached = "no"
        size = decimal(entry.size_bytes) if entry.size_bytes is not None else "not published"
        table.add_row(entry.name, entry.family, entry.arch, size, hash_cell, cached, str(target))
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)
    console.print(table)
    console.print(
        "Hashes 'recorded locally' were taken from the first complete download, because none has been "
        "published; `rossam-geo weights verify` prints full hashes."
    )


@weights.command("fetch")
@click.argument("name")
@_cache_dir_option
@click.option(
    "--url",
    default=None,
    help="Full URL of the file (default: $ROSSAM_GEO_WEIGHTS_URL/<file>, else official).",
)
@click.option("--force", is_flag=True, help="Download again even if a verified copy is cached.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the connection and for each block of data.",
)
@click.option("--no-progress", is_flag=True, help="Do not show a progress bar.")
@user_errors
def fetch_command(
    name: str, cache_dir: Path | None, url: str | None, force: bool, timeout_s: float, no_progress: bool
) -> None:
    """Download checkpoint NAME into the cache, verify it, and print its path."""
    from rossam_geo.errors import RossamError
    from rossam_geo.validate import check_download_url
    from rossam_geo.weights import cache_dir as resolve_cache_dir
    from rossam_geo.weights import expected_hash, fetch, get_entry

    try:
        if url is not None:
            check_download_url(url, option="--url")
        entry = get_entry(name)
        folder = resolve_cache_dir(cache_dir)
        before = expected_hash(entry, folder)
        path = fetch(
            entry.name, cache_dir=folder, url=url, progress=not no_progress, force=force, timeout_s=timeout_s
        )
        after = expected_hash(entry, folder)
    except RossamError as exc:
        raise click.ClickException(str(exc)) from None
    _report_hash(entry, before.source, after.sha256, after.source)
    click.echo(str(path))


def _report_hash(entry: WeightsEntry, source_before: str, sha256: str | None, source_after: str) -> None:
    if source_after == "published":
        click.echo(f"{entry.filename}: sha256 {sha256} matches the published hash", err=True)
    elif source_before == "none":
        click.echo(
            f"{entry.filename}: no SHA-256 has been published; recorded sha256 {sha256} locally on this "
            "first download, later copies are checked against it",
            err=True,
        )
    else:
        click.echo(
            f"{entry.filename}: sha256 {sha256} matches the hash recorded locally on first download "
            "(not published)",
            err=True,
        )


@weights.command("verify")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--sha256", "expected_sha256", default=None, help="Expected SHA-256 (default: from the registry)."
)
@_cache_dir_option
@click.pass_context
@user_errors
def verify_command(
    ctx: click.Context, path: Path | None, expected_sha256: str | None, cache_dir: Path | None
) -> None:
    """Check PATH (default: every cached checkpoint) against its SHA-256; exit 1 on any mismatch."""
    from rossam_geo.errors import RossamError
    from rossam_geo.weights import REGISTRY, verify
    from rossam_geo.weights import cache_dir as resolve_cache_dir

    folder = resolve_cache_dir(cache_dir)
    if path is not None:
        paths = [path]
    else:
        if expected_sha256 is not None:
            raise click.UsageError("--sha256 needs a PATH")
        paths = [folder / e.filename for e in REGISTRY.values() if (folder / e.filename).is_file()]
        if not paths:
            click.echo(f"no registered weights are cached in {folder}")
            return
    mismatches = 0
    for file_path in paths:
        try:
            result = verify(file_path, expected_sha256=expected_sha256, cache_dir=folder)
        except RossamError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(result.describe())
        mismatches += result.ok is False
    if mismatches:
        click.echo(f"{mismatches} file(s) failed verification; fetch them again with --force", err=True)
        ctx.exit(1)


@weights.command("path")
@click.argument("name")
@_cache_dir_option
@user_errors
def path_command(name: str, cache_dir: Path | None) -> None:
    """Print where checkpoint NAME lives in the cache (whether or not it is there yet)."""
    from rossam_geo.errors import RossamError
    from rossam_geo.weights import cached_path

    try:
        click.echo(str(cached_path(name, cache_dir)))
    except RossamError as exc:
        raise click.ClickException(str(exc)) from None
