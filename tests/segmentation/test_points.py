"""Refinement clicks through the API: a click on a second object adds it, a click off the object removes the
part it lies on; points files joined to prompt ids in any CRS; checks before any work; the fingerprint."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import rossam_geo
from rossam_geo.errors import InputError
from rossam_geo.io import PromptSet
from rossam_geo.segmentation import prompt_fingerprint
from rossam_geo.segmentation.points import PromptPoints
from rossam_geo.segmentation.prompts import subset
from tests.segmentation.clicks_scene import ON_A, ON_B, A, B, box_in, covered, to_crs, write_scene


@pytest.fixture
def scene(tmp_path):
    return write_scene(tmp_path / "two.tif")


def _segment(scene, points, crs="EPSG:4326", **options):
    features = rossam_geo.segment(
        scene, np.array([box_in(crs)]), engine="grabcut", boxes_crs=crs, points=points, **options
    )
    assert list(features["status"]) == ["ok"]
    return features.geometry.iloc[0]


def _rows(*clicks):
    """Per-prompt [x, y, label] rows in EPSG:4326 of (pixel point, label) clicks, for the one box."""
    xy = to_crs([c[0] for c in clicks], "EPSG:4326")
    return [[[x, y, label] for (x, y), (_, label) in zip(xy, clicks, strict=True)]]


def test_a_click_on_a_second_object_adds_it_and_a_click_off_the_object_removes_that_part(scene):
    box_only = _segment(scene, None)
    assert covered(box_only, A) > 0.95 and covered(box_only, B) == 0  # the part of the box

    on_b = _segment(scene, _rows((ON_B, 1)))
    assert covered(on_b, A) > 0.95 and covered(on_b, B) > 0.95

    off_a = _segment(scene, _rows((ON_B, 1), (ON_A, 0)))
    assert covered(off_a, A) == 0 and covered(off_a, B) > 0.95


def test_points_files_are_joined_by_prompt_id_in_their_own_crs(scene, tmp_path):
    boxes = gpd.GeoDataFrame(
        {"name": ["a", "b"]}, geometry=[shapely.box(*box_in("EPSG:4326"))] * 2, crs="EPSG:4326"
    )
    boxes.index = [7, 9]
    (on_b, on_a) = to_crs([ON_B, ON_A], "EPSG:3857")
    points = gpd.GeoDataFrame(
        {"prompt_id": [9, 9], "label": [1, 0]}, geometry=[shapely.Point(on_b), shapely.Point(on_a)], crs=3857
    )
    points.to_file(tmp_path / "clicks.gpkg")
    features = rossam_geo.segment(scene, boxes, engine="grabcut", points=tmp_path / "clicks.gpkg")
    assert list(features["prompt_id"]) == [7, 9]
    first, second = features.geometry
    assert covered(first, A) > 0.95 and covered(first, B) == 0  # prompt 7 has no clicks
    assert covered(second, A) == 0 and covered(second, B) > 0.95

    # a CSV is in the prompts' coordinates (here EPSG:4326); ids are text there
    (b_lonlat, a_lonlat) = to_crs([ON_B, ON_A], "EPSG:4326")
    csv = tmp_path / "clicks.csv"
    csv.write_text(f"prompt_id,x,y,label\n9,{b_lonlat[0]},{b_lonlat[1]},1\n9,{a_lonlat[0]},{a_lonlat[1]},0\n")
    from_csv = rossam_geo.segment(scene, boxes, engine="grabcut", points=csv)
    assert from_csv.geometry.iloc[1].equals(second)


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        (
            "prompt_id,x,y,label\n5,1,1,1\n",
            r"1 point\(s\) refine prompt ids that are not among the prompts \(5\)",
        ),
        ("prompt_id,x,y,label\n0,1,1,2\n", r"clicks.csv, row 1: label must be 1 \(on the object\) or 0"),
        ("prompt_id,x,y\n0,1,1\n", r"has no 'label' field \(columns: prompt_id, x, y\)"),
        ("prompt_id,x,y,label\n0,,1,1\n", "clicks.csv, row 1: the point has no coordinates"),
    ],
)
def test_bad_points_are_refused_before_any_work(scene, tmp_path, csv_text, message):
    csv = tmp_path / "clicks.csv"
    csv.write_text(csv_text)
    out = tmp_path / "out.gpkg"
    with pytest.raises(InputError, match=message):
        rossam_geo.Segmenter("grabcut").segment_to_file(
            scene, np.array([box_in("EPSG:32633")]), out, boxes_crs="EPSG:32633", points=csv
        )
    assert not out.exists()


def test_prompt_points_check_their_values():
    with pytest.raises(InputError, match="prompt 0: label must be 1 .on the object. or 0 .off it., got 3"):
        PromptPoints.from_rows([[[1.0, 2.0, 3.0]]])
    with pytest.raises(InputError, match="points of prompt 0 must be \\[x, y, label\\] rows"):
        PromptPoints.from_rows([[[1.0, 2.0]]])
    with pytest.raises(InputError, match="give one label per point and finite x, y values"):
        PromptPoints((np.array([[np.nan, 1.0]]),), (np.array([1]),))


def test_the_fingerprint_changes_with_the_clicks_and_subsets_keep_them():
    prompts = PromptSet(
        ids=[1, 2], boxes_xyxy=np.array([[0, 0, 4, 4], [1, 1, 5, 5]], float), crs=None, classes=[None, None]
    )
    plain = prompt_fingerprint(prompts)
    none_given = PromptPoints.from_rows([None, None])
    assert prompt_fingerprint(PromptSet(**{**prompts.__dict__, "points": none_given})) == plain
    clicked = PromptSet(**{**prompts.__dict__, "points": PromptPoints.from_rows([None, [[2, 2, 1]]])})
    other = PromptSet(**{**prompts.__dict__, "points": PromptPoints.from_rows([None, [[2, 2, 0]]])})
    assert len({plain, prompt_fingerprint(clicked), prompt_fingerprint(other)}) == 3
    second = subset(clicked, [1])
    assert second.points is not None and second.points.items(0) == [[2.0, 2.0, 1]]


def test_clicks_without_crs_are_scene_pixels_like_pixel_boxes(scene):
    features = rossam_geo.segment(
        scene,
        np.array([[12.0, 22.0, 100.0, 70.0]]),
        engine="grabcut",
        pixel=True,
        points=[[[*ON_B, 1], [*ON_A, 0]]],
    )
    geometry = features.geometry.iloc[0]
    assert covered(geometry, A) == 0 and covered(geometry, B) > 0.95
