"""Reading prompt boxes: GeoPackage layers, GeoJSON, Shapefile, CSV, COCO JSON, and their errors."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely

from rossam_geo.errors import CRSError, PromptError
from rossam_geo.io import read_prompts
from tests.geo.fakes import LAEA_PROJ, make_coco_json, make_csv_prompts, make_vector_prompts

UTM_BOXES = [[500001.0, 4999990.0, 500005.0, 4999995.5], [500010.0, 4999980.0, 500012.5, 4999985.0]]


def test_gpkg_layer_ids_classes_attributes_and_missing_geometry(tmp_path: Path):
    path = tmp_path / "prompts.gpkg"
    make_vector_prompts(
        path,
        [*UTM_BOXES, [math.nan] * 4],
        layer="ships",
        classes=["ship", None, "boat"],
        extra={"track": [7, 8, 9], "note": ["a", "b", None]},
    )
    make_vector_prompts(path, [[500000.0, 4999000.0, 500001.0, 4999001.0]], layer="planes")
    prompts = read_prompts(path, layer="ships")
    assert prompts.ids == [1, 2, 3]  # GeoPackage fids
    assert prompts.crs == pyproj.CRS.from_epsg(32633)
    np.testing.assert_array_equal(prompts.boxes_xyxy[:2], UTM_BOXES)
    assert np.isnan(prompts.boxes_xyxy[2]).all()  # kept, to be reported
    assert prompts.classes == ["ship", None, "boat"]
    assert prompts.attributes == [
        {"track": 7, "note": "a"},
        {"track": 8, "note": "b"},
        {"track": 9, "note": None},
    ]
    assert prompts.source == str(path) and len(prompts) == 3
    assert read_prompts(path, layer="planes").boxes_xyxy.tolist() == [
        [500000.0, 4999000.0, 500001.0, 4999001.0]
    ]


def test_gpkg_layer_errors(tmp_path: Path):
    path = tmp_path / "prompts.gpkg"
    make_vector_prompts(path, UTM_BOXES, layer="ships")
    make_vector_prompts(path, UTM_BOXES, layer="planes")
    with pytest.raises(PromptError, match=r"has 2 layers \(ships, planes\); choose one with --prompt-layer"):
        read_prompts(path)
    with pytest.raises(
        PromptError, match=r"layer 'cars' not found in 'prompts.gpkg'; available layers: ships, planes"
    ):
        read_prompts(path, layer="cars")


def test_layer_without_geometry_is_refused(tmp_path: Path):
    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"a": [1, 2]}), path, layer="tbl")
    with pytest.raises(
        PromptError, match=r"layer 'tbl' of 'table.gpkg' has no geometry; give a layer of boxes"
    ):
        read_prompts(path)


def test_feature_envelope_is_the_box(tmp_path: Path):
    triangle = shapely.Polygon([(10.0, 45.0), (10.4, 45.1), (10.1, 45.3)])
    path = tmp_path / "tri.geojson"
    gpd.GeoDataFrame({"label": ["airplane"]}, geometry=[triangle], crs="EPSG:4326").to_file(path)
    prompts = read_prompts(path)
    np.testing.assert_allclose(prompts.boxes_xyxy, [[10.0, 45.0, 10.4, 45.3]])
    assert prompts.crs == pyproj.CRS.from_epsg(4326)
    assert prompts.classes == ["airplane"] and prompts.ids == [0]


def test_geojson_with_json_extension_and_class_field(tmp_path: Path):
    path = make_vector_prompts(
        tmp_path / "boxes.json",
        [[15.0, 45.0, 15.001, 45.001]],
        crs="EPSG:4326",
        extra={"kind": ["train"], "label": ["ignored"]},
        driver="GeoJSON",
    )
    prompts = read_prompts(path, class_field="KIND")
    assert prompts.classes == ["train"]
    assert prompts.attributes == [{"label": "ignored"}]
    with pytest.raises(PromptError, match=r"class field 'kind2' not found; available columns: kind, label"):
        read_prompts(path, class_field="kind2")


def test_shapefile_with_custom_crs(tmp_path: Path):
    path = make_vector_prompts(tmp_path / "boxes.shp", [[-1000.0, -500.0, -900.0, -450.0]], crs=LAEA_PROJ)
    prompts = read_prompts(path)
    assert prompts.crs.equals(pyproj.CRS.from_proj4(LAEA_PROJ))
    assert prompts.boxes_xyxy.tolist() == [[-1000.0, -500.0, -900.0, -450.0]]


def test_vector_without_crs_needs_one(tmp_path: Path):
    path = make_vector_prompts(tmp_path / "nocrs.shp", [[1.0, 2.0, 3.0, 4.0]], crs=None)
    with pytest.raises(
        CRSError, match=r"'nocrs.shp' has no CRS; pass --prompts-crs \(e.g. EPSG:4326\) or --pixel"
    ):
        read_prompts(path)
    assert read_prompts(path, crs="EPSG:32633").crs == pyproj.CRS.from_epsg(32633)
    assert read_prompts(path, pixel=True).crs is None


def test_vector_crs_contradicting_option_is_refused(tmp_path: Path):
    path = make_vector_prompts(tmp_path / "utm.gpkg", UTM_BOXES)
    with pytest.raises(CRSError, match=r"is in 'WGS 84 / UTM zone 33N' but the prompt CRS given is 'WGS 84'"):
        read_prompts(path, crs="EPSG:4326")
    assert read_prompts(path, crs="EPSG:32633").crs == pyproj.CRS.from_epsg(32633)


def test_csv_with_crs_pixel_classes_and_bad_rows(tmp_path: Path):
    path = make_csv_prompts(tmp_path / "b.csv", [[1, 2, 3, 4], [5, 6, 7, 8]], classes=["ship", "plane"])
    with path.open("a") as f:
        f.write("9,x,11,12,car\n")
    prompts = read_prompts(path, crs="EPSG:32633")
    assert prompts.crs == pyproj.CRS.from_epsg(32633)
    assert prompts.ids == [1, 2, 3]
    assert prompts.boxes_xyxy[:2].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert np.isnan(prompts.boxes_xyxy[2, 1]) and prompts.boxes_xyxy[2, 0] == 9
    assert prompts.classes == ["ship", "plane", "car"]
    assert read_prompts(path, pixel=True).crs is None


def test_csv_errors(tmp_path: Path):
    path = make_csv_prompts(tmp_path / "b.csv", [[1, 2, 3, 4]])
    with pytest.raises(
        CRSError, match=r"'b.csv' has no CRS; pass --prompts-crs \(e.g. EPSG:32633\) or --pixel"
    ):
        read_prompts(path)
    with pytest.raises(
        PromptError, match=r"either a prompt CRS \('EPSG:4326'\) or pixel coordinates, not both"
    ):
        read_prompts(path, crs="EPSG:4326", pixel=True)
    with pytest.raises(CRSError, match=r"unknown CRS 'EPSG:99999999'"):
        read_prompts(path, crs="EPSG:99999999")
    other = make_csv_prompts(tmp_path / "c.csv", [[1, 2, 3, 4]], columns=("x0", "y0", "x1", "y1"))
    with pytest.raises(PromptError, match=r"box column 'xmin' not found; available columns: x0, y0, x1, y1"):
        read_prompts(other, pixel=True)


def test_csv_rows_of_the_scene_only(tmp_path: Path):
    path = make_csv_prompts(
        tmp_path / "multi.csv",
        [[1, 1, 2, 2], [3, 3, 4, 4], [5, 5, 6, 6]],
        image_names=["a.tif", "dir/b.tif", "a.tif"],
    )
    prompts = read_prompts(path, pixel=True, scene_name="/data/a.tif")
    assert prompts.ids == [1, 3]
    assert prompts.boxes_xyxy.tolist() == [[1, 1, 2, 2], [5, 5, 6, 6]]
    assert prompts.attributes == [{"image_path": "a.tif"}, {"image_path": "a.tif"}]
    assert read_prompts(path, pixel=True, scene_name="b.tif").ids == [2]
    assert len(read_prompts(path, pixel=True)) == 3


def coco_file(tmp_path: Path) -> Path:
    return make_coco_json(
        tmp_path / "ann.json",
        images=[(1, "images/a.png", 100, 80), (2, "images/b.png", 100, 80)],
        annotations=[
            (11, 1, [10, 20, 5, 6], 1),
            (12, 2, [1, 2, 3, 4], 2),
            (13, 1, [0.5, 1.5, 2.0, 2.5], 2),
            (14, 1, [], 1),
        ],
        categories=[(1, "ship"), (2, "airplane")],
    )


def test_coco_boxes_of_the_matching_image(tmp_path: Path):
    prompts = read_prompts(coco_file(tmp_path), scene_name="/scenes/a.png")
    assert prompts.ids == [11, 13, 14]
    assert prompts.crs is None
    np.testing.assert_array_equal(prompts.boxes_xyxy[:2], [[10, 20, 15, 26], [0.5, 1.5, 2.5, 4.0]])
    assert np.isnan(prompts.boxes_xyxy[2]).all()
    assert prompts.classes == ["ship", "airplane", "ship"]
    assert prompts.attributes[0] == {"image_id": 1, "category_id": 1, "iscrowd": 0, "area": 30.0}
    assert read_prompts(coco_file(tmp_path), scene_name="images/b.png").ids == [12]


def test_coco_errors(tmp_path: Path):
    path = coco_file(tmp_path)
    with pytest.raises(
        PromptError, match=r"no image named 'c.png' in COCO file 'ann.json' \(images: images/a.png"
    ):
        read_prompts(path, scene_name="c.png")
    with pytest.raises(PromptError, match=r"'ann.json' has 2 images; pass the scene"):
        read_prompts(path)
    with pytest.raises(PromptError, match=r"COCO boxes are in pixels; drop the prompt CRS 'EPSG:4326'"):
        read_prompts(path, crs="EPSG:4326", scene_name="a.png")


def test_unknown_format_and_missing_file(tmp_path: Path):
    path = tmp_path / "boxes.txt"
    path.write_text("1 2 3 4\n")
    with pytest.raises(
        PromptError, match=r"unsupported prompt format '.txt' .*supported: GeoPackage .*COCO JSON"
    ):
        read_prompts(path)
    with pytest.raises(PromptError, match=r"'.*none.gpkg' does not exist"):
        read_prompts(tmp_path / "none.gpkg")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PromptError, match=r"cannot read .*broken\.json as JSON .*; give a JSON prompt file"):
        read_prompts(broken)


def test_real_samples(shared_data: Path):
    trees = read_prompts(shared_data / "geo" / "OSBS_029.csv", pixel=True, scene_name="OSBS_029.tif")
    assert len(trees) == 61 and trees.classes[0] == "Tree"
    assert trees.boxes_xyxy[0].tolist() == [203, 67, 227, 90]
    buildings = read_prompts(shared_data / "geo" / "geotiff_labels.geojson")
    assert len(buildings) == 43 and buildings.crs == pyproj.CRS.from_epsg(32616)
    assert np.isfinite(buildings.boxes_xyxy).all()
    assert (buildings.boxes_xyxy[:, 2:] > buildings.boxes_xyxy[:, :2]).all()
    vehicles = read_prompts(shared_data / "isaid_vehicles" / "annotations.json", scene_name="P0003.png")
    assert len(vehicles) > 0 and set(vehicles.classes) <= {"Large_Vehicle", "Small_Vehicle", "storage_tank"}
