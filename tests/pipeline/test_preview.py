from __future__ import annotations

import numpy as np
import shapely
from affine import Affine

from rossam_geo.io import open_raster
from rossam_geo.pipeline.run import ArraySource, ReaderSource
from rossam_geo.preview import (
    BOX_RGB,
    POLYGON_RGB,
    PROBLEM_RGB,
    preview_window,
    read_decimated,
    render_preview,
)
from tests.geo.fakes import exact_mean_pixels, make_geotiff


def test_preview_window_surrounds_the_boxes_with_a_margin_inside_the_raster():
    boxes = np.array([[100.0, 50.0, 140.0, 90.0], [300.0, 200.0, 320.0, 230.0], [np.nan] * 4])
    assert preview_window(boxes, 1000, 800) == (84, 34, 252, 212)
    assert preview_window(np.array([[np.nan] * 4]), 1000, 800) is None
    assert preview_window(np.array([[0.0, 0.0, 5.0, 5.0]]), 10, 10) == (0, 0, 10, 10)


def test_read_decimated_averages_blocks():
    image = np.zeros((8, 8, 3), np.uint8)
    image[:4, :4] = 200
    out = read_decimated(ArraySource(image), (0, 0, 8, 8), 4)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[..., 0], [[200, 0], [0, 0]])


def test_render_draws_polygons_and_dashed_boxes_where_they_are():
    image = np.full((200, 300, 3), 40, np.uint8)
    transform = Affine(2.0, 0.0, 1000.0, 0.0, -2.0, 5000.0)
    polygon_px = shapely.box(50, 60, 90, 100)
    polygon = shapely.affinity.affine_transform(polygon_px, [2.0, 0.0, 0.0, -2.0, 1000.0, 5000.0])
    boxes = np.array([[45.0, 55.0, 95.0, 105.0], [150.0, 120.0, 180.0, 150.0]])
    out = render_preview(
        ArraySource(image), boxes, [polygon, shapely.Polygon()], transform, statuses=["ok", "failed"]
    )
    col0, row0, width, height = preview_window(boxes, 300, 200)
    zoom = out.shape[1] / width
    assert out.shape[0] == round(height * zoom)

    def at(x: float, y: float) -> np.ndarray:
        return out[round((y - row0) * zoom), round((x - col0) * zoom)]

    near_polygon_edge = out[
        round((80 - row0) * zoom), round((50 - col0) * zoom) - 2 : round((50 - col0) * zoom) + 3
    ]
    assert any(tuple(p) == POLYGON_RGB for p in near_polygon_edge)
    assert tuple(at(70, 80)) == (40, 40, 40)  # inside the polygon: the scene, not filled
    top_edge = out[round((55 - row0) * zoom), round((50 - col0) * zoom) : round((90 - col0) * zoom)]
    coloured = np.array([tuple(p) == BOX_RGB for p in top_edge])
    assert 0.2 < coloured.mean() < 0.8  # dashed: some on, some off
    failed_edge = out[round((120 - row0) * zoom), round((150 - col0) * zoom) : round((180 - col0) * zoom)]
    assert any(tuple(p) == PROBLEM_RGB for p in failed_edge)


def test_file_preview_is_decimated_by_gdal_as_the_in_memory_one(tmp_path):
    pixels, means = exact_mean_pixels(64, 96)
    path = make_geotiff(tmp_path / "scene.tif", data=pixels, tiled=True, blockxsize=16, blockysize=16)
    in_memory = read_decimated(ArraySource(pixels.transpose(1, 2, 0)), (8, 4, 80, 60), 2)
    with open_raster(path) as reader:
        from_file = read_decimated(ReaderSource(reader), (8, 4, 80, 60), 2)
    np.testing.assert_array_equal(from_file, in_memory)
    np.testing.assert_array_equal(from_file.transpose(2, 0, 1), means[:, 2:32, 4:44])
