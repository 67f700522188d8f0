"""Boxes over background: object-sized, inside the image, covering no object."""

from __future__ import annotations

import numpy as np
import pytest

from rossam_geo.errors import InputError
from rossam_geo.evaluate.background import boxes_occupancy, sample_background_boxes


def test_occupancy_widens_boxes_to_whole_pixels():
    occupied = boxes_occupancy(np.array([[1.5, 0.2, 3.0, 1.0], [8.0, 8.0, 12.0, 12.0]]), 10, 10)
    expected = np.zeros((10, 10), bool)
    expected[0:1, 1:3] = True
    expected[8:10, 8:10] = True  # clipped to the image
    np.testing.assert_array_equal(occupied, expected)


def test_boxes_avoid_occupied_pixels_and_stay_inside():
    occupied = np.zeros((40, 60), bool)
    occupied[:, 20:40] = True  # only the left and right 20 px strips are free
    rng = np.random.default_rng(0)
    boxes = sample_background_boxes(occupied, np.array([[10.0, 6.0], [4.4, 12.6]]), 30, rng)
    assert boxes.shape == (30, 4)
    for x0, y0, x1, y1 in boxes.astype(int):
        assert (x1 - x0, y1 - y0) in {(10, 6), (4, 13)}
        assert 0 <= x0 < x1 <= 60 and 0 <= y0 < y1 <= 40
        assert not occupied[y0:y1, x0:x1].any()
    again = sample_background_boxes(
        occupied, np.array([[10.0, 6.0], [4.4, 12.6]]), 30, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(boxes, again)


def test_no_room_gives_fewer_boxes():
    occupied = np.ones((20, 20), bool)
    occupied[0:5, 0:5] = False
    rng = np.random.default_rng(1)
    assert sample_background_boxes(occupied, np.array([[6.0, 6.0]]), 3, rng).shape == (0, 4)
    assert sample_background_boxes(occupied, np.array([[100.0, 2.0]]), 3, rng).shape == (0, 4)
    assert sample_background_boxes(occupied, np.zeros((0, 2)), 3, rng).shape == (0, 4)


def test_bad_arguments_are_input_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="must be >= 0, got -1"):
        sample_background_boxes(np.zeros((4, 4), bool), np.ones((1, 2)), -1, rng)
    with pytest.raises(InputError, match=r"box sizes must have shape \(K, 2\), got \(3,\)"):
        sample_background_boxes(np.zeros((4, 4), bool), np.ones(3), 1, rng)
