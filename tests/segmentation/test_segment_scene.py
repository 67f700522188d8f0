"""End-to-end geometry through the API: prompts in any CRS -> windows -> engine -> polygons on the map."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine
from rasterio.warp import transform_bounds

import rossam_geo
from rossam_geo.api import Segmenter
from rossam_geo.io import RasterReader
from rossam_geo.segmentation import OUTPUT_COLUMNS
from tests.geo.fakes import LAEA_PROJ, TMERC_FT_PROJ, make_geotiff, make_vector_prompts
from tests.pipeline.conftest import (
    assert_same_area,
    box_engine_pixels,
    draw_key_scene,
    key_pixels,
    pixel_polygon,
)
from tests.pipeline.oracle import FailingOracle, OracleEngine

UTM_TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)


def _to_lonlat(boxes_px, transform: Affine, crs: str) -> list[tuple[float, float, float, float]]:
    """Pixel boxes -> lon/lat boxes whose reprojected envelope lies inside the pixel box."""
    out = []
    for x0, y0, x1, y1 in boxes_px:
        left, top = transform @ (x0, y0)
        right, bottom = transform @ (x1, y1)
        # shrink by 1 % so the densified lon/lat envelope maps back inside the same pixels
        dx, dy = 0.01 * (right - left), 0.01 * (top - bottom)
        out.append(transform_bounds(crs, "EPSG:4326", left + dx, bottom + dy, right - dx, top - dy))
    return out


def _expected_box_pixels(box_lonlat, scene_crs: str, transform: Affine):
    left, bottom, right, top = transform_bounds("EPSG:4326", scene_crs, *box_lonlat, densify_pts=21)
    corners = [~transform @ (x, y) for x, y in ((left, bottom), (left, top), (right, bottom), (right, top))]
    xs, ys = zip(*corners, strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def test_box_engine_on_utm_scene_with_lonlat_prompts(tmp_path):
    scene = draw_key_scene(tmp_path / "utm.tif", 200, 150, [])
    boxes_px = [(10, 20, 40, 50), (120, 30, 180, 140)]
    lonlat = _to_lonlat(boxes_px, UTM_TRANSFORM, "EPSG:32633")
    prompts = make_vector_prompts(
        tmp_path / "p.geojson", lonlat, crs="EPSG:4326", classes=["car", "ship"], extra={"speed": [1.5, 2.5]}
    )
    gdf = rossam_geo.segment(scene, prompts, engine="box")
    assert list(gdf.columns[: len(OUTPUT_COLUMNS)]) == list(OUTPUT_COLUMNS)
    assert pyproj.CRS(gdf.crs).equals(pyproj.CRS("EPSG:32633"))
    assert list(gdf["class"]) == ["car", "ship"] and list(gdf["speed"]) == [1.5, 2.5]
    assert list(gdf["status"]) == ["ok", "ok"] and list(gdf["engine"]) == ["box", "box"]
    assert list(gdf["source"]) == ["utm.tif", "utm.tif"] and list(gdf["area_unit"]) == ["m2", "m2"]
    for geom, area, box in zip(gdf.geometry, gdf["area"], lonlat, strict=True):
        span = box_engine_pixels(_expected_box_pixels(box, "EPSG:32633", UTM_TRANSFORM), 200, 150)
        expected = pixel_polygon(*span, UTM_TRANSFORM)
        assert_same_area(geom, expected, 0.25)
        assert area == pytest.approx(expected.area) and area == pytest.approx(geom.area)


@pytest.mark.parametrize("crs", [LAEA_PROJ, TMERC_FT_PROJ])
def test_custom_projected_crs_and_area_in_square_metres(tmp_path, crs):
    transform = Affine(2.0, 0.0, 1000.0, 0.0, -2.0, 9000.0)  # 2 CRS units per pixel
    scene = draw_key_scene(
        tmp_path / "custom.tif", 120, 100, [(20, 30, 50, 45)], crs=crs, transform=transform
    )
    left, top = transform @ (15, 25)
    right, bottom = transform @ (60, 55)
    prompts = make_vector_prompts(tmp_path / "p.gpkg", [(left, bottom, right, top)], crs=crs)
    gdf = rossam_geo.segment(scene, prompts, engine=OracleEngine(input_size_px=128))
    expected = pixel_polygon(20, 30, 50, 45, transform)
    assert_same_area(gdf.geometry.iloc[0], expected, 4.0)
    metres_per_unit = pyproj.CRS(crs).axis_info[0].unit_conversion_factor
    assert gdf["area"].iloc[0] == pytest.approx(30 * 15 * 4.0 * metres_per_unit**2)
    assert gdf["area_unit"].iloc[0] == "m2"
    assert pyproj.CRS(gdf.crs).equals(pyproj.CRS(crs))


def test_oracle_geometry_is_exact_at_all_four_borders(tmp_path):
    rects = [(0, 40, 12, 60), (80, 0, 95, 9), (188, 70, 200, 90), (100, 141, 130, 150), (60, 60, 75, 80)]
    scene = draw_key_scene(tmp_path / "borders.tif", 200, 150, rects)
    boxes_px = np.array(
        [[-5, 37, 14, 62], [78, -3, 97, 11], [186, 68, 205, 92], [98, 139, 132, 155], [58, 58, 77, 82]]
    )
    oracle = OracleEngine(input_size_px=128)
    gdf = Segmenter(oracle).segment(scene, boxes_px.astype(float), pixel=True)
    assert list(gdf["status"]) == ["ok"] * 5
    for geom, rect in zip(gdf.geometry, rects, strict=True):
        assert_same_area(geom, pixel_polygon(*rect, UTM_TRANSFORM), 0.25)
    assert gdf["crop_size"].tolist() == [64] * 5 and gdf["upsample"].tolist() == [2.0] * 5
    assert gdf["score"].tolist() == [0.75] * 5


def test_oracle_box_larger_than_the_crop_at_full_model_size(tmp_path):
    rect = (40, 60, 880, 760)  # 840 x 700 px
    scene = draw_key_scene(tmp_path / "big.tif", 1000, 900, [rect, (950, 10, 980, 30)])
    # long side 853 px: window ceil(853 * 1.2) = 1024 px, exactly the model input (scale 1)
    box = np.array([[33.5, 55.0, 886.5, 765.0], [945.0, 5.0, 985.0, 35.0]])
    gdf = Segmenter(OracleEngine(input_size_px=1024)).segment(scene, box, pixel=True)
    assert gdf["crop_size"].tolist() == [1024, 512] and gdf["upsample"].tolist() == [1.0, 2.0]
    assert_same_area(gdf.geometry.iloc[0], pixel_polygon(*rect, UTM_TRANSFORM), 0.25)
    assert_same_area(gdf.geometry.iloc[1], pixel_polygon(950, 10, 980, 30, UTM_TRANSFORM), 0.25)


def test_downsampled_large_box_stays_within_a_pixel(tmp_path):
    rect = (30, 25, 180, 130)
    scene = draw_key_scene(tmp_path / "down.tif", 260, 200, [rect])
    gdf = Segmenter(OracleEngine(input_size_px=128)).segment(
        scene, np.array([[28.0, 23, 182, 132]]), pixel=True
    )
    assert gdf["crop_size"].iloc[0] == 185 and gdf["upsample"].iloc[0] == pytest.approx(128 / 185, abs=1e-6)
    expected = pixel_polygon(*rect, UTM_TRANSFORM)
    geom = gdf.geometry.iloc[0]
    assert geom.symmetric_difference(expected).area / expected.area < 0.02
    assert geom.hausdorff_distance(expected) <= 0.5 * 1.5  # within 1.5 px of 0.5 m


def test_box_engine_box_larger_than_crop(tmp_path):
    scene = make_geotiff(tmp_path / "big.tif", data=key_pixels(700, 800, []), transform=UTM_TRANSFORM)
    gdf = rossam_geo.segment(scene, np.array([[50.0, 40.0, 650.0, 600.0]]), engine="box", pixel=True)
    assert gdf["crop_size"].iloc[0] == 720
    assert_same_area(gdf.geometry.iloc[0], pixel_polygon(50, 40, 650, 600, UTM_TRANSFORM), 0.25)


def test_non_georeferenced_png_works_in_pixels(tmp_path):
    rects = [(5, 6, 20, 18), (30, 2, 44, 25)]
    scene = draw_key_scene(tmp_path / "frame.png", 50, 40, rects, crs=None, driver="PNG")
    boxes = np.array([[3.0, 4.0, 22.0, 20.0], [28.0, 0.0, 46.0, 27.0]])
    gdf = rossam_geo.segment(scene, boxes, engine=OracleEngine(input_size_px=128))
    assert gdf.crs is None and list(gdf["area_unit"]) == ["px", "px"]
    for geom, rect, area in zip(gdf.geometry, rects, gdf["area"], strict=True):
        assert_same_area(geom, shapely.box(*rect), 1.0)  # pixel frame, y down
        assert area == (rect[2] - rect[0]) * (rect[3] - rect[1])


def test_bad_boxes_are_reported_and_the_run_continues(tmp_path):
    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30), (60, 60, 80, 80)])
    boxes = np.array(
        [[8.0, 8, 32, 32], [500.0, 500, 520, 520], [np.nan, 1, 2, 3], [40.0, 40, 30, 50], [58.0, 58, 82, 82]]
    )
    gdf = Segmenter(OracleEngine()).segment(scene, boxes, pixel=True)
    assert list(gdf["status"]) == ["ok", "skipped", "skipped", "skipped", "ok"]
    assert gdf["reason"].iloc[1] == "box is outside the raster (120x100 px)"
    assert gdf["reason"].iloc[2] == "box has no geometry or non-finite coordinates"
    assert gdf["reason"].iloc[3] == "box is empty or inverted: (40, 40, 30, 50) px"
    assert gdf.geometry.iloc[1].is_empty and gdf["area"].iloc[1] == 0
    assert gdf["score"].isna().tolist() == [False, True, True, True, False]
    assert_same_area(gdf.geometry.iloc[4], pixel_polygon(60, 60, 80, 80, UTM_TRANSFORM), 0.25)


def test_engine_failure_fails_only_its_box(tmp_path):
    scene = draw_key_scene(
        tmp_path / "s.tif", 300, 100, [(5, 10, 20, 30), (150, 10, 170, 30), (250, 40, 270, 60)]
    )
    engine = FailingOracle(input_size_px=128, max_batch=3)
    boxes = np.array([[150.0, 8, 172, 32], [0.0, 8, 22, 32], [248.0, 38, 272, 62]])  # 2nd: model xmin 0
    gdf = Segmenter(engine).segment(scene, boxes, pixel=True)
    assert list(gdf["status"]) == ["ok", "failed", "ok"]
    assert gdf["reason"].iloc[1] == "engine error: RuntimeError: simulated model failure"
    assert_same_area(gdf.geometry.iloc[2], pixel_polygon(250, 40, 270, 60, UTM_TRANSFORM), 0.25)


def test_empty_mask_is_a_failure(tmp_path):
    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30)])
    gdf = Segmenter(OracleEngine()).segment(scene, np.array([[70.0, 70, 90, 90]]), pixel=True)
    assert gdf["status"].iloc[0] == "failed" and gdf["reason"].iloc[0] == "empty mask"


def test_batches_follow_batch_size(tmp_path):
    scene = draw_key_scene(
        tmp_path / "s.tif", 200, 100, [(10 + 35 * i, 10, 30 + 35 * i, 30) for i in range(5)]
    )
    engine = OracleEngine(input_size_px=128, max_batch=4)
    boxes = np.array([[8.0 + 35 * i, 8, 32 + 35 * i, 32] for i in range(5)])
    gdf = Segmenter(engine).segment(scene, boxes, pixel=True, batch_size=2)
    assert [shape[0] for shape, _ in engine.calls] == [2, 2, 1]
    assert all(shape[1:] == (128, 128, 3) for shape, _ in engine.calls)
    assert list(gdf["status"]) == ["ok"] * 5
    first_box_model = engine.calls[0][1][0]
    plan_col = 0  # window 64 centred on x = 20 is clamped to the left border
    np.testing.assert_allclose(first_box_model, (np.array([8.0, 8, 32, 32]) - [plan_col, 0, plan_col, 0]) * 2)


def test_uint16_single_band_with_nodata(tmp_path):
    data = np.full((1, 100, 120), 1000, np.uint16)
    data[0, :, :30] = 0  # nodata strip on the left
    data[0, 40:60, 60:90] = 50000
    scene = make_geotiff(tmp_path / "u16.tif", data=data, nodata=0, transform=UTM_TRANSFORM)
    gdf = rossam_geo.segment(scene, np.array([[20.0, 10.0, 50.0, 30.0]]), engine="box", pixel=True)
    # the box engine covers cols 20..49, the nodata columns 20..29 are cut away
    assert_same_area(gdf.geometry.iloc[0], pixel_polygon(30, 10, 50, 30, UTM_TRANSFORM), 0.25)
    assert gdf["area"].iloc[0] == pytest.approx(20 * 20 * 0.25)


def test_only_windows_around_boxes_are_read(tmp_path, monkeypatch):
    scene = make_geotiff(tmp_path / "wide.tif", data=key_pixels(1500, 2000, []), transform=UTM_TRANSFORM)
    reads: list[tuple[int, int, int, int]] = []
    original = RasterReader.read_window_rgb

    def spy(self, col_off, row_off, width, height, bands=None, stretch=None):
        reads.append((col_off, row_off, width, height))
        return original(self, col_off, row_off, width, height, bands=bands, stretch=stretch)

    monkeypatch.setattr(RasterReader, "read_window_rgb", spy)
    boxes = np.array([[100.0, 100, 120, 130], [1800.0, 1400, 1830, 1420], [900.0, 700, 940, 760]])
    gdf = rossam_geo.segment(scene, boxes, engine="box", pixel=True)
    assert list(gdf["status"]) == ["ok"] * 3
    assert len(reads) == 3 and all(w == h == 512 for _, _, w, h in reads)
    assert sum(w * h for _, _, w, h in reads) <= 3 * 512 * 512 < 2000 * 1500
    for (col, row, w, h), box in zip(reads, boxes, strict=True):
        assert col <= box[0] and box[2] <= col + w and row <= box[1] and box[3] <= row + h


def test_output_crs_reprojects_the_polygons(tmp_path):
    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30)])
    boxes = np.array([[8.0, 8, 32, 32]])
    in_scene = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True)
    in_lonlat = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True, output_crs="EPSG:4326")
    assert pyproj.CRS(in_lonlat.crs).equals(pyproj.CRS("EPSG:4326"))
    expected = in_scene.to_crs("EPSG:4326").geometry.iloc[0]
    assert in_lonlat.geometry.iloc[0].equals_exact(expected, 1e-9)
    assert in_lonlat["area"].iloc[0] == pytest.approx(in_scene["area"].iloc[0])


def test_all_parts_keeps_every_part_in_the_box(tmp_path):
    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30), (35, 12, 40, 20)])
    boxes = np.array([[8.0, 8, 42, 32]])
    largest = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True).geometry.iloc[0]
    both = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True, all_parts=True).geometry.iloc[
        0
    ]
    assert_same_area(largest, pixel_polygon(10, 10, 30, 30, UTM_TRANSFORM), 0.25)
    assert both.geom_type == "MultiPolygon" and len(both.geoms) == 2
    assert both.area == pytest.approx((400 + 40) * 0.25)


def test_whole_raster_mode_resizes_the_scene_to_the_model_input(tmp_path):
    rects = [(5, 6, 20, 18), (30, 2, 44, 25)]
    scene = draw_key_scene(tmp_path / "small.tif", 64, 48, rects)
    engine = OracleEngine(input_size_px=128)
    boxes = np.array([[3.0, 4.0, 22.0, 20.0], [28.0, 0.0, 46.0, 27.0]])
    gdf = Segmenter(engine).segment(scene, boxes, pixel=True, crop=False)
    np.testing.assert_allclose(engine.calls[0][1], boxes * 2)  # long side 64 -> 128
    for geom, rect in zip(gdf.geometry, rects, strict=True):
        assert_same_area(geom, pixel_polygon(*rect, UTM_TRANSFORM), 0.25)


def test_geodataframe_prompts_and_clashing_attributes(tmp_path):
    import geopandas as gpd

    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30)])
    left, top = UTM_TRANSFORM @ (8, 8)
    right, bottom = UTM_TRANSFORM @ (32, 32)
    prompts = gpd.GeoDataFrame(
        {"class": ["plane"], "score": [0.3], "note": ["x"]},
        geometry=[shapely.box(left, bottom, right, top)],
        crs="EPSG:32633",
        index=[41],
    )
    gdf = rossam_geo.segment(scene, prompts, engine=OracleEngine())
    row = gdf.iloc[0]
    assert (row["prompt_id"], row["class"], row["score"], row["prompt_score"], row["note"]) == (
        41,
        "plane",
        0.75,
        0.3,
        "x",
    )


def test_segment_array_returns_full_size_masks():
    image = np.transpose(key_pixels(50, 70, [(5, 6, 20, 18), (50, 30, 70, 50)]), (1, 2, 0)).copy()
    boxes = np.array([[3.0, 4.0, 22.0, 20.0], [48.0, 28.0, 75.0, 55.0], [-20.0, -20.0, -1.0, -1.0]])
    results = rossam_geo.segment_array(image, boxes, engine=OracleEngine(input_size_px=128))
    assert [r.status for r in results] == ["ok", "ok", "skipped"]
    expected = np.zeros((50, 70), bool)
    expected[6:18, 5:20] = True
    np.testing.assert_array_equal(results[0].mask, expected)
    expected = np.zeros((50, 70), bool)
    expected[30:50, 50:70] = True
    np.testing.assert_array_equal(results[1].mask, expected)
    assert not results[2].mask.any() and results[2].mask.shape == (50, 70)


def test_segment_array_all_parts_keeps_the_neighbour_inside_the_window():
    image = np.transpose(key_pixels(50, 70, [(5, 6, 20, 18), (24, 6, 30, 10)]), (1, 2, 0)).copy()
    boxes = np.array([[3.0, 4.0, 26.0, 20.0]])
    one = rossam_geo.segment_array(image, boxes, engine=OracleEngine(input_size_px=128))[0].mask
    both = rossam_geo.segment_array(image, boxes, engine=OracleEngine(input_size_px=128), all_parts=True)[
        0
    ].mask
    assert one.sum() == 15 * 12 and both.sum() == 15 * 12 + 6 * 4


def test_tiny_rossam_engine_runs_through_the_pipeline(tmp_path):
    scene = draw_key_scene(tmp_path / "s.tif", 150, 120, [(10, 10, 30, 30), (60, 60, 80, 80)])
    boxes = np.array([[8.0, 8, 32, 32], [58.0, 58, 82, 82], [400.0, 400, 410, 410]])
    gdf = rossam_geo.segment(scene, boxes, engine="rossam", device="cpu", pixel=True, config="tiny")
    assert list(gdf["engine"]) == ["rossam"] * 3 and gdf["status"].iloc[2] == "skipped"
    assert gdf["crop_size"].iloc[0] == 64 and gdf["upsample"].iloc[0] == 2.0  # 128 px model input
    assert set(gdf["status"].iloc[:2]) <= {"ok", "failed"}  # random weights: any mask, never an exception
    assert all(
        reason in ("", "empty mask", "the mask does not overlap the box") for reason in gdf["reason"][:2]
    )


def test_box_engine_clips_boxes_crossing_each_border(tmp_path):
    scene = make_geotiff(tmp_path / "s.tif", data=key_pixels(100, 120, []), transform=UTM_TRANSFORM)
    boxes = np.array(
        [
            [-10.0, 20, 15, 40],
            [30.0, -7, 50, 12],
            [100.0, 50, 130, 70],
            [60.0, 85, 90, 120],
            [-5.0, -5, 125, 105],
        ]
    )
    gdf = rossam_geo.segment(scene, boxes, engine="box", pixel=True)
    expected = [(0, 20, 15, 40), (30, 0, 50, 12), (100, 50, 120, 70), (60, 85, 90, 100), (0, 0, 120, 100)]
    assert list(gdf["status"]) == ["ok"] * 5
    for geom, span in zip(gdf.geometry, expected, strict=True):
        assert_same_area(geom, pixel_polygon(*span, UTM_TRANSFORM), 0.25)


def test_geodataframe_class_field_is_found_or_reported(tmp_path):
    import geopandas as gpd

    from rossam_geo.errors import PromptError

    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30)])
    prompts = gpd.GeoDataFrame(
        {"Label": ["ship"]}, geometry=[shapely.box(500_004, 4_999_984, 500_016, 4_999_996)]
    )
    gdf = rossam_geo.segment(scene, prompts, engine="box", boxes_crs="EPSG:32633")
    assert gdf["class"].iloc[0] == "ship" and gdf["status"].iloc[0] == "ok"
    with pytest.raises(PromptError, match="class field 'kind' not found; available columns: Label"):
        rossam_geo.segment(scene, prompts, engine="box", boxes_crs="EPSG:32633", class_field="kind")
