"""An existing output is checked before any work, and a write that fails leaves it as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest

from rossam_geo.errors import InputError, OutputError
from rossam_geo.io import check_geopackage, write_features
from tests.geo.fakes import sql_content
from tests.geo.test_io_write import features


def test_a_missing_file_passes(tmp_path: Path):
    check_geopackage(tmp_path / "new.gpkg", "objects", ["prompt_id"])


def test_a_text_file_is_refused(tmp_path: Path):
    path = tmp_path / "notes.gpkg"
    path.write_text("not a database\n" * 100)
    with pytest.raises(
        InputError, match=r"notes.gpkg' is not a readable GeoPackage \(file is not a database\)"
    ):
        check_geopackage(path)


def test_a_truncated_geopackage_is_refused_unchanged(tmp_path: Path):
    whole = tmp_path / "whole.gpkg"
    write_features(features(3), whole, layer="objects")
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    before = cut.read_bytes()
    with pytest.raises(InputError, match=r"cut.gpkg' is not a readable GeoPackage \(database disk image"):
        check_geopackage(cut, "objects", ["prompt_id"])
    assert cut.read_bytes() == before


def test_a_layer_without_the_runs_fields_is_refused(tmp_path: Path):
    path = tmp_path / "project.gpkg"
    write_features(features(1), path, layer="objects")
    check_geopackage(path, "objects", ["prompt_id", "score"])
    check_geopackage(path, "other", ["prompt_id", "status"])  # a new layer: nothing to compare
    with pytest.raises(
        InputError, match=r"layer 'objects' of .* has no field 'status', so it was not written"
    ):
        check_geopackage(path, "objects", ["prompt_id", "status"])


def test_a_failed_append_puts_back_the_layer_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """GDAL records a layer's extent and feature count apart from its rows, even after the write failed."""
    path = tmp_path / "out.gpkg"
    write_features(features(2), path, layer="objects")
    before = sql_content(path)

    def count_then_fail(*args: object, **kwargs: object) -> None:
        connection = sqlite3.connect(path)
        with connection:
            connection.execute("UPDATE gpkg_ogr_contents SET feature_count = 302")
            connection.execute("UPDATE gpkg_contents SET min_x = -1")
        connection.close()
        raise RuntimeError("Failed to commit transaction")

    monkeypatch.setattr(pyogrio, "write_dataframe", count_then_fail)
    with pytest.raises(OutputError, match=r"\(Failed to commit transaction\); check that the disk has free"):
        write_features(features(300, start=2), path, layer="objects", mode="append")
    assert sql_content(path) == before


FILL_THE_DISK = """
import resource, sys
from pathlib import Path
from rossam_geo.io import write_features
from tests.geo.test_io_write import features
path = Path(sys.argv[1])
limit = path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    write_features(features(400, start=2), path, layer="objects", mode="append")
except OSError as exc:
    print(type(exc).__name__, exc)
"""


def test_an_append_that_meets_a_full_disk_leaves_every_row_as_it_was(tmp_path: Path):
    """The file may not grow (``RLIMIT_FSIZE``): GDAL's append fails inside SQLite, as on a full disk."""
    path = tmp_path / "out.gpkg"
    write_features(features(2), path, layer="objects")
    before = sql_content(path)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", FILL_THE_DISK, str(path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("OutputError cannot write layer 'objects'"), done.stdout + done.stderr
    assert sql_content(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]
