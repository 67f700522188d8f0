from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rossam_geo.train.transforms import (
    PAD_RGB,
    EvalTransform,
    TrainTransform,
    large_scale_jitter,
    masks_to_boxes_xyxy,
    noisy_boxes,
    photometric_jitter,
    rotate,
)


def assert_tight_boxes(sample: dict) -> None:
    """Every box is exactly the tight box of its mask, computed independently with np.nonzero."""
    assert sample["masks"].shape[0] == sample["boxes"].shape[0] == len(sample["classes"])
    for mask, box in zip(sample["masks"], sample["boxes"], strict=True):
        ys, xs = np.nonzero(mask)
        assert xs.size > 0, "empty objects must be dropped"
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def random_sample(draw_seed: int, height: int, width: int, n: int) -> dict:
    """Ellipses and rotated rectangles of 6 to 30 px on a random image."""
    rng = np.random.default_rng(draw_seed)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    masks = np.zeros((n, height, width), dtype=np.uint8)
    for i in range(n):
        centre = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        size = (float(rng.uniform(6, 30)), float(rng.uniform(6, 30)))
        if i % 2:
            cv2.ellipse(masks[i], (centre, size, float(rng.uniform(0, 180))), 1, -1)
        else:
            pts = cv2.boxPoints((centre, size, float(rng.uniform(0, 180))))
            cv2.fillPoly(masks[i], [np.round(pts).astype(np.int32)], 1)
    masks = masks.astype(bool)
    keep = masks.any(axis=(1, 2))
    masks = masks[keep]
    return {
        "image": image,
        "masks": masks,
        "boxes": masks_to_boxes_xyxy(masks),
        "classes": [f"obj{i}" for i in np.flatnonzero(keep)],
    }


def perimeter_px(mask: np.ndarray) -> float:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return float(sum(cv2.arcLength(c, True) for c in contours)) + 4.0


def test_masks_to_boxes_uses_pixel_edges():
    masks = np.zeros((2, 10, 12), dtype=bool)
    masks[0, 2:5, 3:9] = True  # rows 2..4, cols 3..8
    assert masks_to_boxes_xyxy(masks).tolist() == [[3, 2, 9, 5], [0, 0, 0, 0]]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    height=st.integers(24, 90),
    width=st.integers(24, 90),
    n=st.integers(1, 4),
    scale=st.floats(0.1, 4.0),
)
def test_lsj_keeps_boxes_tight_and_areas_scaled(seed, height, width, n, scale):
    sample = random_sample(seed, height, width, n)
    output = 64
    out = large_scale_jitter(sample, np.random.default_rng(seed), output_size_px=output, scale=scale)
    assert out["image"].shape == (output, output, 3) and out["image"].dtype == np.uint8
    assert_tight_boxes(out)
    factor = scale * output / max(height, width)
    new_w, new_h = round(width * factor), round(height * factor)
    if new_w <= output and new_h <= output:  # no crop: every object's area scales by factor**2
        # The pad region (bottom-right) is SAM's mean colour.
        assert (out["image"][new_h:, :] == PAD_RGB).all() and (out["image"][:, new_w:] == PAD_RGB).all()
        after = {c: int(m.sum()) for c, m in zip(out["classes"], out["masks"], strict=True)}
        for cls, mask in zip(sample["classes"], sample["masks"], strict=True):
            expected = mask.sum() * factor**2
            tolerance = perimeter_px(mask) * max(factor, 1.0) + 4
            assert abs(after.get(cls, 0) - expected) <= tolerance, (
                cls,
                after.get(cls, 0),
                expected,
                tolerance,
            )


def test_lsj_crop_keeps_exact_enlarged_pixels():
    """At scale 2 on a 32 px image with 32 px output, the crop is a 2x nearest-neighbour-consistent window."""
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[:16] = 200  # top half bright
    masks = np.zeros((2, 32, 32), dtype=bool)
    masks[0, 0:4, 0:4] = True
    masks[1, 24:30, 20:30] = True
    sample = {"image": image, "masks": masks, "boxes": masks_to_boxes_xyxy(masks), "classes": ["a", "b"]}
    seen_crops = set()
    for seed in range(12):
        out = large_scale_jitter(sample, np.random.default_rng(seed), output_size_px=32, scale=2.0)
        assert_tight_boxes(out)
        for cls, box in zip(out["classes"], out["boxes"], strict=True):
            x0, y0, x1, y1 = box
            assert (
                (x1 - x0, y1 - y0) == ((8, 8) if cls == "a" else (20, 12))
                or x0 == 0
                or y0 == 0
                or x1 == 32
                or y1 == 32
            )
        seen_crops.add(tuple(out["boxes"].ravel().tolist()))
    assert len(seen_crops) > 1, "the crop position must be random"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), angle=st.floats(-360, 360), n=st.integers(1, 4), expand=st.booleans())
def test_rotation_keeps_boxes_tight_and_areas(seed, angle, n, expand):
    sample = random_sample(seed, 60, 80, n)
    out = rotate(sample, angle, expand=expand)
    assert_tight_boxes(out)
    if expand:
        assert out["classes"] == sample["classes"], "an expanded canvas loses no object"
        theta = np.deg2rad(angle)
        assert out["image"].shape[1] >= 80 * abs(np.cos(theta)) + 60 * abs(np.sin(theta)) - 1
    else:
        assert out["image"].shape == sample["image"].shape
    after = {c: int(m.sum()) for c, m in zip(out["classes"], out["masks"], strict=True)}
    for cls, mask in zip(sample["classes"], sample["masks"], strict=True):
        if cls in after and expand:
            assert abs(after[cls] - mask.sum()) <= perimeter_px(mask) + 4


def test_rotation_by_90_degrees_equals_rot90():
    sample = random_sample(7, 30, 40, 3)
    out = rotate(sample, 90.0, expand=True)
    assert out["image"].shape == (40, 30, 3)
    for mask, rotated in zip(sample["masks"], out["masks"], strict=True):
        assert np.array_equal(rotated, np.rot90(mask, k=1))
    assert np.array_equal(out["image"], np.rot90(sample["image"], k=1))


def test_rotation_without_expand_drops_objects_that_leave():
    masks = np.zeros((2, 40, 40), dtype=bool)
    masks[0, 0:3, 0:3] = True  # corner: leaves the canvas at 45 degrees
    masks[1, 18:22, 18:22] = True  # centre: stays
    sample = {
        "image": np.zeros((40, 40, 3), np.uint8),
        "masks": masks,
        "boxes": masks_to_boxes_xyxy(masks),
        "classes": ["corner", "centre"],
    }
    out = rotate(sample, 45.0, expand=False)
    assert out["classes"] == ["centre"]
    # Expanded canvas is gray (SAM mean) where nothing was.
    expanded = rotate(sample, 45.0, expand=True)
    assert tuple(expanded["image"][0, 0]) == PAD_RGB


def test_photometric_jitter_clips_instead_of_wrapping(shape_sample):
    bright = dict(shape_sample, image=np.full_like(shape_sample["image"], 250))
    out = photometric_jitter(
        bright, np.random.default_rng(0), brightness=100.0, contrast=(1, 1), channel_gain=(1, 1)
    )
    values = np.unique(out["image"])
    assert len(values) == 1 and (values[0] == 255 or values[0] < 250)  # one offset, clipped at 255, no wrap
    assert np.array_equal(out["masks"], shape_sample["masks"])
    changed = photometric_jitter(shape_sample, np.random.default_rng(1))
    assert changed["image"].dtype == np.uint8 and not np.array_equal(changed["image"], shape_sample["image"])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), fraction=st.floats(0.0, 0.5))
def test_noisy_boxes_stay_in_image_and_near_the_box(seed, fraction):
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(0, 50, size=2)
    boxes = np.array([[x0, y0, x0 + rng.uniform(1, 40), y0 + rng.uniform(1, 40)]])
    noisy = noisy_boxes(boxes, rng, fraction, (64, 64))
    assert (noisy[:, 2] > noisy[:, 0]).all() and (noisy[:, 3] > noisy[:, 1]).all()
    assert (noisy >= 0).all() and (noisy[:, [0, 2]] <= 64).all() and (noisy[:, [1, 3]] <= 64).all()
    wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    moved = np.abs(noisy - np.clip(boxes, 0, 64))
    assert (moved <= fraction * wh + 1 + 1e-9).all()
    if fraction == 0:
        assert np.array_equal(noisy, np.clip(boxes, 0, 64))


def test_train_transform_outputs_model_size_with_prompts(shape_sample):
    transform = TrainTransform(64, box_noise=0.1, max_objects=2)
    for seed in range(5):
        out = transform(shape_sample, np.random.default_rng(seed))
        assert out["image"].shape == (64, 64, 3)
        assert 1 <= len(out["classes"]) <= 2
        assert_tight_boxes(out)
        assert out["prompt_boxes"].shape == out["boxes"].shape
    exact = EvalTransform(48)(shape_sample, np.random.default_rng(0))
    assert exact["image"].shape == (48, 48, 3)
    assert np.array_equal(exact["prompt_boxes"], exact["boxes"])
    assert len(exact["classes"]) == 3
