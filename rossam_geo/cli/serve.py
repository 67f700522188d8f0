"""``rossam-geo serve``: the JSON-RPC backend used by the QGIS plugin."""

from __future__ import annotations

import logging

import click

from rossam_geo.cli.errors import user_errors


@click.command()
@click.option(
    "--max-message-mib",
    type=click.FloatRange(min=0.001),
    default=16.0,
    show_default=True,
    help="Longest accepted request line in MiB; longer ones are answered with an error and dropped.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors to stderr.")
@user_errors
def serve(max_message_mib: float, verbose: bool, quiet: bool) -> None:
    """Answer JSON-RPC 2.0 requests on stdin/stdout, one message per line, keeping the model loaded.

    Methods: ping, version, environment, raster_info, load_model, segment, cancel, shutdown. Each segment
    request is one run of the pipeline, with a progress notification per box. Logs go to stderr.
    Used by the QGIS plugin; see docs/qgis.md.
    """
    from rossam_geo.worker.stdio import serve_stdio

    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    code = serve_stdio(max_message_bytes=int(max_message_mib * 1024 * 1024), log_level=level)
    raise SystemExit(code)
