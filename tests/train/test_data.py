from __future__ import annotations

import json

import cv2
import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from rossam_geo.errors import CRSError, InputError
from rossam_geo.train.data import (
    AugmentedDataset,
    ClassFilter,
    CocoInstances,
    GeoTiffChips,
    SatMtbFolder,
    collate_samples,
    open_dataset,
    split_indices,
)
from rossam_geo.train.transforms import EvalTransform, TrainTransform
from tests.train.synthetic import write_coco


def test_coco_rle_and_polygon_masks_match(tmp_path):
    rle = CocoInstances(write_coco(tmp_path / "rle", 3, seed=1))
    poly = CocoInstances(write_coco(tmp_path / "poly", 3, seed=1, polygons=True))
    assert len(rle) == len(poly) == 3
    for i in range(3):
        a, b = rle[i], poly[i]
        assert a["image"].shape == (128, 128, 3) and a["image"].dtype == np.uint8
        assert a["masks"].dtype == bool and a["masks"].shape[0] == len(a["classes"]) == 2
        assert set(a["classes"]) <= {"airplane", "ship", "car"}
        # Polygons traced through the boundary pixels' centres rasterise half a pixel inside the RLE mask.
        for ma, mb in zip(a["masks"], b["masks"], strict=True):
            assert (mb & ~ma).sum() <= 0.05 * mb.sum()
            assert (ma & mb).sum() / (ma | mb).sum() > 0.7
        ys, xs = np.nonzero(a["masks"][0])
        assert a["boxes"][0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_coco_image_matches_file(tmp_path):
    path = write_coco(tmp_path, 1, seed=2)
    sample = CocoInstances(path)[0]
    on_disk = cv2.cvtColor(cv2.imread(str(tmp_path / "images" / "img000.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(sample["image"], on_disk)


def test_class_filter_drops_objects_and_empty_images(tmp_path):
    path = write_coco(tmp_path, 8, seed=4)
    full = CocoInstances(path)
    kept = CocoInstances(path, class_filter=ClassFilter(exclude=["CAR"]))
    only = CocoInstances(path, class_filter=ClassFilter(classes=[" Ship "]))
    total = sum(len(full[i]["classes"]) for i in range(len(full)))
    cars = sum(full[i]["classes"].count("car") for i in range(len(full)))
    assert cars > 0
    assert sum(len(kept[i]["classes"]) for i in range(len(kept))) == total - cars
    assert all("car" not in kept[i]["classes"] for i in range(len(kept)))
    assert all(set(only[i]["classes"]) == {"ship"} for i in range(len(only)))
    assert len(only) == sum(1 for i in range(len(full)) if "ship" in full[i]["classes"])


def test_coco_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"file not found: .*missing\.json; check the path"):
        CocoInstances(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match=r"cannot read .*broken\.json as JSON .*; give COCO instance"):
        CocoInstances(broken)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "FeatureCollection"}))
    with pytest.raises(InputError, match="not COCO instance JSON"):
        CocoInstances(bad)


def test_split_is_seeded_disjoint_and_complete():
    train, val = split_indices(50, 0.2, seed=7)
    assert len(val) == 10 and sorted(train + val) == list(range(50))
    assert split_indices(50, 0.2, seed=7) == (train, val)
    assert split_indices(50, 0.2, seed=8)[1] != val
    assert split_indices(5, 0.0, seed=0) == ([0, 1, 2, 3, 4], [])
    assert len(split_indices(3, 0.01, seed=0)[1]) == 1


def test_satmtb_layout(tmp_path):
    root = tmp_path / "satmtb"
    for sub in ("img", "boxes", "onehotmask"):
        (root / "train" / sub).mkdir(parents=True)
    masks = np.zeros((2, 40, 50), dtype=np.uint8)
    masks[0, 5:10, 5:20] = 255
    masks[1, 20:35, 30:40] = 255
    image = np.full((40, 50, 3), 90, dtype=np.uint8)
    cv2.imwrite(str(root / "train" / "img" / "airplane235_0001.png"), image)
    np.save(root / "train" / "onehotmask" / "airplane235_0001.npy", masks)
    np.save(
        root / "train" / "boxes" / "airplane235_0001.npy", np.array([[5, 5, 19, 9], [30, 20, 39, 34]], float)
    )
    ds = open_dataset(root)
    assert isinstance(ds, SatMtbFolder) and len(ds) == 1
    sample = ds[0]
    assert sample["classes"] == ["airplane", "airplane"]
    assert sample["boxes"].tolist() == [[5, 5, 20, 10], [30, 20, 40, 35]]
    with pytest.raises(InputError, match="class filter"):
        SatMtbFolder(root, class_filter=ClassFilter(classes=["ship"]))
    with pytest.raises(InputError, match="does not exist"):
        SatMtbFolder(root, split="test")


def test_geotiff_chips_rasterise_labels_from_another_crs(tmp_path):
    # 100 x 80 px scene in UTM 33N, 2 m pixels; labels given in WGS 84.
    transform = from_origin(500_000.0, 4_000_200.0, 2.0, 2.0)
    raster = tmp_path / "scene.tif"
    data = np.random.default_rng(0).integers(0, 255, size=(3, 80, 100), dtype=np.uint8)
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=100,
        height=80,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=transform,
    ) as dst:
        dst.write(data)
    # A 20 x 10 m rectangle (10 x 5 px) at pixel cols 10-20, rows 4-9, and a ship across the chip edge.
    plane = shapely.box(500_020.0, 4_000_182.0, 500_040.0, 4_000_192.0)
    ship = shapely.box(500_090.0, 4_000_100.0, 500_110.0, 4_000_110.0)  # cols 45-55, rows 45-50
    frame = gpd.GeoDataFrame({"class": ["Airplane", "ship"]}, geometry=[plane, ship], crs="EPSG:32633")
    labels = tmp_path / "labels.gpkg"
    frame.to_crs("EPSG:4326").to_file(labels)
    chips = open_dataset(raster, labels=labels, chip_size_px=50)
    assert isinstance(chips, GeoTiffChips)
    by_pos = {(c[0], c[1]): i for i, c in enumerate(chips.chips)}
    first = chips[by_pos[(0, 0)]]
    assert first["image"].shape == (50, 50, 3)
    assert np.array_equal(first["image"], data[:, :50, :50].transpose(1, 2, 0))
    plane_idx = first["classes"].index("airplane")
    assert first["boxes"][plane_idx].tolist() == [10, 4, 20, 9]
    # The ship spans four chips; each keeps its inside part.
    ship_px = [
        int(m.sum())
        for i in range(len(chips))
        for c, m in zip(chips[i]["classes"], chips[i]["masks"], strict=True)
        if c == "ship"
    ]
    assert sum(ship_px) == 50 and len(ship_px) == 2  # the row-50 chips only touch its edge
    assert sorted(by_pos) == [(0, 0), (50, 0)]
    with pytest.raises(InputError, match="--labels"):
        open_dataset(raster)
    frame.set_crs(None, allow_override=True).to_file(tmp_path / "nocrs.gpkg")
    with pytest.raises(CRSError, match="no CRS"):
        GeoTiffChips(raster, tmp_path / "nocrs.gpkg")


def test_augmented_dataset_is_reproducible_per_epoch(shapes_coco):
    source = CocoInstances(shapes_coco)
    ds = AugmentedDataset(source, [0, 1, 2], TrainTransform(64), seed=1)
    first = ds[1]
    assert np.array_equal(ds[1]["image"].numpy(), first["image"].numpy())
    ds.set_epoch(1)
    assert not np.array_equal(ds[1]["image"].numpy(), first["image"].numpy())
    ds.set_epoch(0)
    assert np.array_equal(ds[1]["masks"].numpy(), first["masks"].numpy())
    batch = collate_samples([ds[0], ds[2]])
    assert tuple(batch["images"].shape) == (2, 64, 64, 3)
    assert len(batch["masks"]) == 2 and batch["masks"][0].shape[1:] == (64, 64)
    val = AugmentedDataset(source, [0], EvalTransform(64), seed=1)
    assert val[0]["boxes"].tolist() == val[0]["prompt_boxes"].tolist()


def test_open_dataset_rejects_unknown_format(tmp_path):
    with pytest.raises(InputError, match="cannot tell the format"):
        open_dataset(tmp_path / "data.xyz")


def test_image_chips_cut_images_after_the_split(tmp_path):
    from rossam_geo.train.data import ImageChips

    source = CocoInstances(write_coco(tmp_path, 4, seed=6))
    chips = ImageChips(source, 64, image_indexes=[1, 3])
    assert {i for i, _, _ in chips.chips} <= {1, 3}
    total = {i: source[i]["masks"].sum() for i in (1, 3)}
    covered = {1: 0, 3: 0}
    for k in range(len(chips)):
        sample = chips[k]
        i, col, row = chips.chips[k]
        assert sample["image"].shape == (64, 64, 3) and len(sample["classes"]) > 0
        assert np.array_equal(sample["image"], source[i]["image"][row : row + 64, col : col + 64])
        ys, xs = np.nonzero(sample["masks"][0])
        assert sample["boxes"][0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        covered[i] += int(sample["masks"].sum())
    # Every object pixel lands in exactly one chip (parts under 4 px aside).
    for i in (1, 3):
        assert total[i] - 4 * 4 * len(source[i]["classes"]) <= covered[i] <= total[i]
