from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import geopandas as gpd
import pyproj
import pytest
from click.testing import CliRunner

from rossam_geo.cli import main


def _run(*args: str | Path):
    return CliRunner().invoke(main, ["segment", *map(str, args)])


def _ogrinfo_summary(path: Path, layer: str) -> str:
    ogrinfo = shutil.which("ogrinfo") or ("/usr/bin/ogrinfo" if Path("/usr/bin/ogrinfo").exists() else None)
    if ogrinfo is None:
        if os.environ.get("CI"):
            pytest.fail("ogrinfo (gdal-bin) is required under CI")
        pytest.skip("ogrinfo (gdal-bin) is not installed")
    done = subprocess.run(
        [ogrinfo, "-so", "-ro", str(path), layer], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_writes_a_geopackage_that_gdal_reads_back(tmp_path, scene, lonlat_prompts):
    out = tmp_path / "out.gpkg"
    result = _run(scene, lonlat_prompts, "-o", out, "--engine", "box", "--layer-name", "planes")
    assert result.exit_code == 0, result.output
    summary = _ogrinfo_summary(out, "planes")
    assert re.search(r"Feature Count: 3\b", summary)
    assert 'ID["EPSG",32633]' in summary or "UTM zone 33N" in summary
    features = gpd.read_file(out, layer="planes")
    assert pyproj.CRS(features.crs).equals(pyproj.CRS("EPSG:32633"))
    assert list(features["status"]) == ["ok", "ok", "skipped"]
    assert list(features["class"]) == ["airplane", "ship", "car"]
    assert "3 boxes: 2 ok, 1 skipped, 0 failed" in result.stderr
    assert "1 x box is outside the raster (120x100 px)" in result.stderr
    assert re.search(r"ms per box", result.stderr)


def test_existing_output_needs_overwrite_or_append(tmp_path, scene, lonlat_prompts):
    out = tmp_path / "out.gpkg"
    assert _run(scene, lonlat_prompts, "-o", out, "--engine", "box").exit_code == 0
    refused = _run(scene, lonlat_prompts, "-o", out, "--engine", "box")
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)
    assert "exists; use --overwrite to replace its layer 'objects', --append to add to it" in refused.stderr
    assert "Traceback" not in refused.output

    assert _run(scene, lonlat_prompts, "-o", out, "--engine", "box", "--overwrite").exit_code == 0
    assert len(gpd.read_file(out, layer="objects")) == 3
    assert _run(scene, lonlat_prompts, "-o", out, "--engine", "box", "--append").exit_code == 0
    assert len(gpd.read_file(out, layer="objects")) == 6

    both = _run(scene, lonlat_prompts, "-o", out, "--overwrite", "--append")
    assert both.exit_code == 2 and "either --overwrite or --append" in both.stderr


def test_user_errors_exit_non_zero_without_traceback(tmp_path, scene, pixel_csv):
    missing = _run(scene, tmp_path / "nope.gpkg", "-o", tmp_path / "o.gpkg")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr

    no_crs = _run(scene, pixel_csv, "-o", tmp_path / "o.gpkg", "--engine", "box")
    assert no_crs.exit_code == 1 and isinstance(no_crs.exception, SystemExit)
    assert "--prompts-crs" in no_crs.stderr and "Traceback" not in no_crs.output

    weights = _run(
        scene, pixel_csv, "-o", tmp_path / "o.gpkg", "--engine", "box", "--pixel", "--weights", "w.pth"
    )
    assert weights.exit_code == 1 and "uses no weights" in weights.stderr
    assert not (tmp_path / "o.gpkg").exists()


def test_pixel_csv_grabcut_output_crs_and_preview(tmp_path, scene, pixel_csv):
    out, preview = tmp_path / "out.gpkg", tmp_path / "preview.png"
    result = _run(
        scene, pixel_csv, "-o", out, "--engine", "grabcut", "--pixel", "--output-crs", "EPSG:4326",
        "--preview", preview, "-v",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    features = gpd.read_file(out)
    assert pyproj.CRS(features.crs).equals(pyproj.CRS("EPSG:4326"))
    assert list(features["engine"]) == ["grabcut"] * 3 and list(features["status"]) == ["ok", "ok", "skipped"]
    assert features.geometry.iloc[0].bounds[0] == pytest.approx(15.0, abs=0.01)  # lon of UTM 33N centre
    assert "prompt 3: skipped: box is outside the raster" in result.stderr
    image = cv2.imread(str(preview))
    assert image is not None and image.ndim == 3 and min(image.shape[:2]) > 50
    again = _run(
        scene, pixel_csv, "-o", tmp_path / "other.gpkg", "--pixel", "--engine", "box", "--preview", preview
    )
    assert again.exit_code == 1 and "preview" in again.stderr and "--overwrite" in again.stderr


def test_quiet_prints_nothing_on_success(tmp_path, scene, lonlat_prompts):
    result = _run(scene, lonlat_prompts, "-o", tmp_path / "o.gpkg", "--engine", "box", "-q")
    assert result.exit_code == 0 and result.output == ""


def test_speed_options_reach_the_sam_family_engine(tmp_path, scene, lonlat_prompts, monkeypatch):
    import rossam_geo.api
    from rossam_geo.engines.box import BoxEngine

    received: dict[str, object] = {}

    def fake_get_engine(name, **options):
        received.update(options, name=name)
        return BoxEngine()

    monkeypatch.setattr(rossam_geo.api, "get_engine", fake_get_engine)
    out = tmp_path / "out.gpkg"
    result = _run(
        scene,
        lonlat_prompts,
        "-o",
        out,
        "--engine",
        "rossam",
        "--precision",
        "bf16",
        "--attention",
        "sdpa",
        "--compile",
        "--tta",
        "flips",
    )
    assert result.exit_code == 0, result.output
    assert received["name"] == "rossam"
    assert (received["precision"], received["attention"], received["compile"]) == ("bf16", "sdpa", True)
    assert received["tta"] == "flips"


def test_speed_options_are_refused_for_weight_free_engines(tmp_path, scene, lonlat_prompts):
    result = _run(
        scene, lonlat_prompts, "-o", tmp_path / "out.gpkg", "--engine", "grabcut", "--precision", "bf16"
    )
    assert result.exit_code == 2
    assert "--precision: only for the rossam, sam and hq-sam engines, not 'grabcut'" in result.output
    assert not (tmp_path / "out.gpkg").exists()
