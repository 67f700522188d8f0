"""Fixtures for the geo I/O tests: tiny rasters written by :mod:`tests.geo.fakes`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.geo.fakes import make_geotiff, make_png


@pytest.fixture
def utm_rgb_tif(tmp_path: Path) -> Path:
    """40x30 px, 3-band uint8 position raster in UTM 33N with 0.5 m pixels."""
    return make_geotiff(tmp_path / "scene.tif")


@pytest.fixture
def png_frame(tmp_path: Path) -> Path:
    """40x30 px plain RGB PNG without georeferencing."""
    return make_png(tmp_path / "frame.png")
