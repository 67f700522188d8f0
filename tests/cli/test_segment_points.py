"""``rossam-geo segment --points``: clicks from a point layer in another CRS, joined to the prompt ids."""

from __future__ import annotations

import geopandas as gpd
import shapely
from click.testing import CliRunner

from rossam_geo.cli import main
from tests.geo.fakes import make_vector_prompts
from tests.segmentation.clicks_scene import ON_A, ON_B, A, B, box_in, covered, to_crs, write_scene


def _run(*args):
    return CliRunner().invoke(main, ["segment", *map(str, args)])


def _inputs(tmp_path, labels):
    scene = write_scene(tmp_path / "two.tif")
    boxes = make_vector_prompts(tmp_path / "boxes.gpkg", [box_in("EPSG:4326")] * 2, crs="EPSG:4326")
    xy = to_crs([ON_B, ON_A], "EPSG:3857")
    points = gpd.GeoDataFrame(
        {"prompt_id": [2, 2], "label": labels}, geometry=[shapely.Point(p) for p in xy], crs="EPSG:3857"
    )
    points.to_file(tmp_path / "clicks.geojson")
    return scene, boxes, tmp_path / "clicks.geojson"


def test_points_refine_their_boxes(tmp_path):
    scene, boxes, points = _inputs(tmp_path, [1, 0])
    out = tmp_path / "out.gpkg"
    result = _run(scene, boxes, "--points", points, "-o", out, "--engine", "grabcut")
    assert result.exit_code == 0, result.output
    features = gpd.read_file(out)
    assert list(features["prompt_id"]) == [1, 2] and list(features["status"]) == ["ok", "ok"]
    box_only, refined = features.geometry
    assert covered(box_only, A) > 0.95 and covered(box_only, B) == 0
    assert covered(refined, A) == 0 and covered(refined, B) > 0.95


def test_bad_points_are_a_one_line_error_and_nothing_is_written(tmp_path):
    scene, boxes, points = _inputs(tmp_path, [1, 5])
    out = tmp_path / "out.gpkg"
    result = _run(scene, boxes, "--points", points, "-o", out, "--engine", "grabcut")
    assert result.exit_code == 1
    assert "clicks.geojson, feature 1: label must be 1 (on the object) or 0 (off it), got 5" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_points_need_a_single_scene_run(tmp_path):
    scene, boxes, points = _inputs(tmp_path, [1, 0])
    result = _run(scene, boxes, "--points", points, "-o", tmp_path / "o.gpkg", "--scheduler", "local:1")
    assert result.exit_code == 2
    assert "--points refines the boxes of one scene; run without --scheduler" in result.output
