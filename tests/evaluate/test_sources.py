"""Reading each kind of ground truth and prediction into masks on the ground truth's grid."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import Polygon, box

from rossam_geo.errors import CRSError, InputError
from rossam_geo.evaluate.sources import (
    decode_coco_segmentation,
    object_key,
    read_coco_ground_truth,
    read_ground_truth,
    read_predictions,
    read_vector_ground_truth,
)
from tests.evaluate.fakes import UTM33, UTM33_TRANSFORM, pixel_rect_polygon, rect_mask, rle_of


def test_coco_ground_truth_decodes_rle_and_polygons(coco_dir: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    assert list(gt.objects) == ["11", "12", "21"]
    assert gt.skipped == [("22", "crowd annotation")]
    assert gt.images["1"].shape == (60, 80) and gt.images["2"].name == "images/b.png"
    car = gt.objects["11"]
    assert car.class_name == "car" and car.image_id == "1"
    np.testing.assert_array_equal(car.mask.to_full(), rect_mask((60, 80), 5, 6, 10, 8))
    assert car.box_px_xyxy == (6.0, 5.0, 14.0, 15.0)
    # the polygon with corners (40, 30) and (70, 50) decodes to pixel columns 40..69 and rows 30..49
    ship = gt.objects["12"]
    assert ship.class_name == "ship"
    np.testing.assert_array_equal(ship.mask.to_full(), rect_mask((60, 80), 30, 40, 20, 30))


def test_uncompressed_rle_and_size_check():
    mask = rect_mask((6, 7), 1, 2, 3, 4)
    # column-major run lengths, starting with background
    flat = mask.flatten(order="F").astype(int)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    decoded = decode_coco_segmentation({"size": [6, 7], "counts": counts}, 6, 7)
    np.testing.assert_array_equal(decoded, mask)
    with pytest.raises(InputError, match=r"RLE size \[6, 7\] differs from the image size \[7, 6\]"):
        decode_coco_segmentation(rle_of(mask), 7, 6)
    with pytest.raises(InputError, match="unsupported COCO segmentation of type str"):
        decode_coco_segmentation("nope", 6, 7)


def test_object_key_normalises_numbers():
    assert object_key(7) == "7" and object_key(7.0) == "7" and object_key(np.int64(7)) == "7"
    assert object_key("a7") == "a7" and object_key(7.5) == "7.5"


def test_coco_results_predictions(coco_dir: Path, tmp_path: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    results = [
        {
            "image_id": 1,
            "category_id": 1,
            "annotation_id": 11,
            "score": 0.9,
            "segmentation": rle_of(rect_mask((60, 80), 5, 6, 10, 4)),
        },
        {
            "image_id": 2,
            "category_id": 2,
            "id": 21,
            "score": 0.5,
            "segmentation": rle_of(rect_mask((60, 80), 0, 0, 2, 2)),
        },  # wrong image size
        {
            "image_id": 2,
            "category_id": 2,
            "id": 12,
            "score": 0.4,
            "segmentation": rle_of(rect_mask((50, 50), 0, 0, 2, 2)),
        },  # 12 lies in image 1
        {
            "image_id": 1,
            "category_id": 1,
            "id": 999,
            "score": 0.1,
            "segmentation": rle_of(rect_mask((60, 80), 0, 0, 2, 2)),
        },
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    preds = read_predictions(path, gt)
    assert preds.unmatched_ids == ["999"]
    assert preds.matched["11"].status == "ok" and preds.matched["11"].score == pytest.approx(0.9)
    assert preds.matched["11"].mask.area_px == 40
    assert (
        preds.matched["21"].status == "error" and "differs from the image size" in preds.matched["21"].reason
    )
    assert preds.matched["12"].status == "error" and "image_id 2 differs" in preds.matched["12"].reason
    # a second result for an id makes that object an error instead of silently picking one
    path.write_text(json.dumps([results[0], results[0]]))
    twice = read_predictions(path, gt)
    assert (
        twice.matched["11"].status == "error"
        and twice.matched["11"].reason == "several predictions with id 11"
    )


def _write_vector(path: Path, frame: gpd.GeoDataFrame, **kw) -> Path:
    frame.to_file(path, engine="pyogrio", **kw)
    return path


def test_vector_ground_truth_reprojected_and_rasterized(utm_raster: Path, tmp_path: Path):
    polygons = [
        pixel_rect_polygon(UTM33_TRANSFORM, 10, 20, 8, 12),
        pixel_rect_polygon(UTM33_TRANSFORM, 40, 0, 25, 10),  # runs off the bottom edge
    ]
    frame = gpd.GeoDataFrame({"oid": ["p1", "p2"], "kind": ["ship", "car"]}, geometry=polygons, crs=UTM33)
    path = _write_vector(tmp_path / "gt.gpkg", frame.to_crs("EPSG:4326"))
    gt = read_ground_truth(path, raster=utm_raster, id_field="oid", class_field="kind")
    assert list(gt.objects) == ["p1", "p2"]
    assert gt.images["scene.tif"].crs.to_epsg() == 32633
    np.testing.assert_array_equal(gt.objects["p1"].mask.to_full(), rect_mask((60, 80), 10, 20, 8, 12))
    np.testing.assert_array_equal(gt.objects["p2"].mask.to_full(), rect_mask((60, 80), 40, 0, 20, 10))
    assert gt.objects["p2"].class_name == "car"


def test_vector_ground_truth_defaults_to_fid_and_class_field(utm_raster: Path, tmp_path: Path):
    frame = gpd.GeoDataFrame(
        {"class": ["plane"]}, geometry=[pixel_rect_polygon(UTM33_TRANSFORM, 1, 1, 3, 3)], crs=UTM33
    )
    path = _write_vector(tmp_path / "gt.gpkg", frame)
    gt = read_vector_ground_truth(path, utm_raster)
    (oid,) = gt.objects
    assert oid == "1"  # GeoPackage fids start at 1
    assert gt.objects[oid].class_name == "plane" and gt.objects[oid].mask.area_px == 9


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_vector_ground_truth_errors(utm_raster: Path, tmp_path: Path):
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs=UTM33)
    path = _write_vector(tmp_path / "gt.gpkg", frame)
    with pytest.raises(InputError, match="has no field 'oid'; its fields are: a"):
        read_vector_ground_truth(path, utm_raster, id_field="oid")
    with pytest.raises(InputError, match="pass --raster with the image"):
        read_ground_truth(path)
    no_crs = _write_vector(tmp_path / "nocrs.gpkg", gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)]))
    with pytest.raises(CRSError, match="has no CRS but the raster scene.tif is in EPSG:32633"):
        read_vector_ground_truth(no_crs, utm_raster)
    with pytest.raises(InputError, match="file not found"):
        read_ground_truth(tmp_path / "missing.json")


def _segment_output(ids, geometries, crs, status=None) -> gpd.GeoDataFrame:
    n = len(ids)
    return gpd.GeoDataFrame(
        {
            "prompt_id": ids,
            "class": ["x"] * n,
            "score": [0.75] * n,
            "status": status or ["ok"] * n,
            "reason": [""] * n,
        },
        geometry=geometries,
        crs=crs,
    )


def test_geopackage_predictions_over_vector_ground_truth(utm_raster: Path, tmp_path: Path):
    gt_frame = gpd.GeoDataFrame(
        {"oid": [1, 2]},
        geometry=[
            pixel_rect_polygon(UTM33_TRANSFORM, 10, 20, 8, 12),
            pixel_rect_polygon(UTM33_TRANSFORM, 30, 30, 5, 5),
        ],
        crs=UTM33,
    )
    gt = read_ground_truth(_write_vector(tmp_path / "gt.gpkg", gt_frame), raster=utm_raster, id_field="oid")
    pred = _segment_output(
        [1, 2, 7],
        [
            pixel_rect_polygon(UTM33_TRANSFORM, 10, 20, 8, 6),
            Polygon(),
            pixel_rect_polygon(UTM33_TRANSFORM, 0, 0, 2, 2),
        ],
        "EPSG:3857",
        status=["ok", "failed", "ok"],
    )
    pred = pred.set_crs(UTM33, allow_override=True).to_crs("EPSG:3857")
    preds = read_predictions(
        _write_vector(tmp_path / "pred.gpkg", pred, layer="objects"), gt, layer="objects"
    )
    assert preds.unmatched_ids == ["7"]
    np.testing.assert_array_equal(preds.matched["1"].mask.to_full(), rect_mask((60, 80), 10, 20, 8, 6))
    assert preds.matched["1"].score == pytest.approx(0.75)
    assert preds.matched["2"].status == "failed" and preds.matched["2"].mask.is_empty
    doubled = _write_vector(tmp_path / "pred2.gpkg", pred.iloc[[0, 0]])
    assert read_predictions(doubled, gt).matched["1"].reason == "several features with prompt_id 1"


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_pixel_geopackage_predictions_over_coco_ground_truth(coco_dir: Path, tmp_path: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    # no CRS: pixel coordinates, x right, y down
    pred = _segment_output([11, 21], [box(6, 5, 14, 10), box(20, 20, 26, 32)], None)
    preds = read_predictions(_write_vector(tmp_path / "pred.gpkg", pred), gt)
    np.testing.assert_array_equal(preds.matched["11"].mask.to_full(), rect_mask((60, 80), 5, 6, 5, 8))
    np.testing.assert_array_equal(preds.matched["21"].mask.to_full(), rect_mask((50, 50), 20, 20, 12, 6))
    assert "12" not in preds.matched


def test_georeferenced_predictions_over_coco_need_the_raster(coco_dir: Path, tmp_path: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    # a georeferenced copy of image a.png (60 x 80)
    raster = tmp_path / "a.tif"
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        height=60,
        width=80,
        count=1,
        dtype="uint8",
        crs=UTM33,
        transform=UTM33_TRANSFORM,
    ) as ds:
        ds.write(np.zeros((1, 60, 80), np.uint8))
    pred = _segment_output(
        [11, 21],
        [pixel_rect_polygon(UTM33_TRANSFORM, 5, 6, 10, 8), pixel_rect_polygon(UTM33_TRANSFORM, 20, 20, 2, 2)],
        UTM33,
    )
    path = _write_vector(tmp_path / "pred.gpkg", pred)
    without = read_predictions(path, gt)
    assert without.matched["11"].status == "error"
    assert "pass the georeferenced image with --raster" in without.matched["11"].reason
    with_raster = read_predictions(path, gt, raster=raster)
    np.testing.assert_array_equal(with_raster.matched["11"].mask.to_full(), rect_mask((60, 80), 5, 6, 10, 8))
    # image b is 50 x 50, so a.tif cannot be its grid: reported on that object only
    assert with_raster.matched["21"].status == "error"
    assert "is 60x80 px but image images/b.png is 50x50 px" in with_raster.matched["21"].reason


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_mask_folder_predictions(coco_dir: Path, tmp_path: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    folder = tmp_path / "masks"
    folder.mkdir()
    cv2.imwrite(str(folder / "11.png"), rect_mask((60, 80), 5, 6, 10, 8).astype(np.uint8) * 255)
    with rasterio.open(
        folder / "21.tif", "w", driver="GTiff", height=50, width=50, count=1, dtype="uint8"
    ) as ds:
        ds.write(rect_mask((50, 50), 20, 20, 6, 12).astype(np.uint8)[None])
    cv2.imwrite(str(folder / "12.png"), np.ones((10, 10), np.uint8))  # wrong size
    cv2.imwrite(str(folder / "500.png"), np.ones((60, 80), np.uint8))
    (folder / "notes.txt").write_text("ignored")
    preds = read_predictions(folder, gt)
    assert preds.unmatched_ids == ["500"]
    np.testing.assert_array_equal(preds.matched["11"].mask.to_full(), rect_mask((60, 80), 5, 6, 10, 8))
    assert preds.matched["21"].mask.area_px == 72
    assert preds.matched["12"].status == "error" and "12.png is 10x10 px" in preds.matched["12"].reason


def test_missing_predictions_path(coco_dir: Path, tmp_path: Path):
    gt = read_coco_ground_truth(coco_dir / "annotations.json")
    with pytest.raises(InputError, match="predictions not found"):
        read_predictions(tmp_path / "nope.gpkg", gt)
