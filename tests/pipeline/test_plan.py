from __future__ import annotations

import numpy as np
import pytest
from segment_anything.utils.transforms import ResizeLongestSide

from rossam_geo.errors import InputError
from rossam_geo.pipeline.plan import base_window_side, check_settings, plan_crop, plan_whole


def test_window_is_centred_on_the_box_and_upsampled_twice():
    plan = plan_crop(np.array([1000.0, 2000.0, 1020.0, 2010.0]), 5000, 5000)
    assert (plan.width, plan.height) == (512, 512)
    assert (plan.col_off, plan.row_off) == (1010 - 256, 2005 - 256)
    assert (plan.model_width, plan.model_height, plan.model_shape) == (1024, 1024, (1024, 1024))
    assert plan.scale_x == plan.scale_y == 2.0
    np.testing.assert_allclose(plan.box_to_model([1000.0, 2000.0, 1020.0, 2010.0]), [492, 502, 532, 522])


@pytest.mark.parametrize(
    ("box", "offsets"),
    [
        ((0.0, 300.0, 10.0, 320.0), (0, 54)),  # left border
        ((300.0, 0.0, 320.0, 5.0), (54, 0)),  # top border
        ((990.0, 300.0, 1000.0, 320.0), (1000 - 512, 54)),  # right border
        ((300.0, 795.0, 320.0, 800.0), (54, 800 - 512)),  # bottom border
    ],
)
def test_window_is_clamped_inside_the_raster_at_each_border(box, offsets):
    plan = plan_crop(np.array(box), 1000, 800)
    assert (plan.col_off, plan.row_off) == offsets
    assert 0 <= plan.col_off <= 1000 - plan.width and 0 <= plan.row_off <= 800 - plan.height


def test_raster_smaller_than_the_window_is_padded_from_its_origin():
    plan = plan_crop(np.array([100.0, 50.0, 120.0, 60.0]), 300, 200)
    assert (plan.col_off, plan.row_off, plan.width, plan.height) == (0, 0, 512, 512)


def test_large_box_gets_a_larger_window_with_margin_and_is_downsampled():
    plan = plan_crop(np.array([100.0, 100.0, 700.0, 400.0]), 2000, 2000)
    assert plan.width == plan.height == 720  # 600 px long side + 10 % each side
    assert plan.col_off == 400 - 360 and plan.row_off == 0  # 250 - 360 < 0: clamped to the top border
    assert plan.model_width == 1024 and plan.scale_x == pytest.approx(1024 / 720)
    assert plan.scale_x < 2


def test_scale_never_exceeds_upsample_and_input_is_padded():
    plan = plan_crop(np.array([100.0, 100.0, 110.0, 110.0]), 2000, 2000, crop_size=256, upsample=2)
    assert plan.width == 256 and plan.model_width == 512 and plan.model_shape == (1024, 1024)


def test_tiny_model_input_shrinks_the_window_to_input_over_upsample():
    assert base_window_side(512, 2, 128) == 64
    plan = plan_crop(np.array([100.0, 100.0, 110.0, 110.0]), 400, 400, input_size_px=128)
    assert (plan.width, plan.model_width, plan.scale_x) == (64, 128, 2.0)


def test_native_resolution_engines_take_the_crop_as_is():
    plan = plan_crop(np.array([100.0, 100.0, 110.0, 110.0]), 2000, 2000, input_size_px=None)
    assert (plan.width, plan.model_width, plan.model_shape, plan.scale_x) == (512, 512, (512, 512), 1.0)


@pytest.mark.parametrize(("width", "height"), [(64, 48), (1500, 1200), (333, 1001), (4000, 3)])
def test_whole_raster_plan_matches_segment_anything_resize(width, height):
    plan = plan_whole(width, height, 1024)
    expected_h, expected_w = ResizeLongestSide.get_preprocess_shape(height, width, 1024)
    assert (plan.model_height, plan.model_width) == (expected_h, expected_w)
    assert max(plan.model_height, plan.model_width) == 1024
    assert (plan.col_off, plan.row_off, plan.width, plan.height) == (0, 0, width, height)


@pytest.mark.parametrize(
    ("crop_size", "upsample", "match"),
    [
        (4, 2.0, "crop_size must be an integer of at least 8"),
        (512, 0.0, "upsample must be a positive number"),
    ],
)
def test_bad_settings_are_rejected_with_their_value(crop_size, upsample, match):
    with pytest.raises(InputError, match=match):
        check_settings(crop_size, upsample)
