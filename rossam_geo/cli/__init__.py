"""The ``rossam-geo`` command line: a click group whose subcommands live one per module."""

from __future__ import annotations

import importlib
from typing import Any

import click

from rossam_geo import __version__

#: subcommand name -> "module:attribute" of its click command, imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "segment": "rossam_geo.cli.segment:segment",
    "weights": "rossam_geo.cli.weights:weights",
    "evaluate": "rossam_geo.cli.evaluate:evaluate",
    "serve": "rossam_geo.cli.serve:serve",
    "qgis": "rossam_geo.cli.qgis:qgis",
    "tracks": "rossam_geo.cli.tracks:tracks",
    "train": "rossam_geo.cli.train:train",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module_name, attr = SUBCOMMANDS[cmd_name].split(":")
            command: Any = getattr(importlib.import_module(module_name), attr)
            return command  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rossam-geo")
def main() -> None:
    """Box-prompted segmentation of airplanes, ships, cars and trains in satellite imagery (ROS-SAM)."""


__all__ = ["main"]
