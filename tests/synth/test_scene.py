from __future__ import annotations

import hashlib

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from rossam_geo.errors import InputError
from rossam_geo.synth import CATEGORIES, SCENE_KINDS, generate_scene, shapes
from rossam_geo.synth.scene import KIND_WEIGHTS_V4

EXPECTED_CLASSES = {
    "airfield": {"airplane"},
    "harbour": {"ship"},
    "sea": {"ship"},
    "parking": {"car", "truck"},
    "road": {"car", "truck"},
    "rail": {"train"},
    "sar": {"ship"},
    "lot": {"car", "truck"},
    "street": {"car", "truck"},
}
#: SHA-256 of scenes (7, 0) ... (7, 5) at 64 px from the v3 generator, computed at commit b0461ac (before the
#: v4 generator was added); the validation set of rossam-compact-v3 is (7, 0) ... (7, 79) at 192 px.
V3_SCENES_SHA256 = "23b6bd0e9cae3832e90e439964efd7e97a0dd5ae6b6f2ee16880f24b22a4f4d3"


def test_same_seed_same_scene_and_other_seed_differs():
    a = generate_scene(11, size_px=64)
    b = generate_scene(11, size_px=64)
    c = generate_scene(12, size_px=64)
    assert a.kind == b.kind
    assert np.array_equal(a.image_rgb, b.image_rgb)
    assert np.array_equal(a.masks, b.masks)
    assert a.classes == b.classes
    assert not np.array_equal(a.image_rgb, c.image_rgb)


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_every_kind_gives_disjoint_exact_masks_of_its_classes(kind):
    found = 0
    for seed in range(6):
        scene = generate_scene(seed, size_px=96, kind=kind)
        assert scene.kind == kind
        assert scene.image_rgb.shape == (96, 96, 3) and scene.image_rgb.dtype == np.uint8
        assert scene.masks.shape == (len(scene.classes), 96, 96) and scene.masks.dtype == bool
        assert set(scene.classes) <= EXPECTED_CLASSES[kind]
        assert (scene.masks.sum(axis=0) <= 1).all(), "objects overlap"
        assert (scene.masks.sum(axis=(1, 2)) >= 2).all()
        boxes = scene.boxes_px_xyxy
        for mask, (x0, y0, x1, y1) in zip(scene.masks, boxes, strict=True):
            rows, cols = np.nonzero(mask)
            assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (x0, y0, x1, y1)
        found += len(scene.classes)
    assert found > 0, f"no {kind} object in 6 scenes"


def test_sar_scenes_are_grayscale_with_bright_ships_on_dark_sea():
    scene = generate_scene(5, size_px=128, kind="sar")
    img = scene.image_rgb.astype(np.float64)
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])
    ships = scene.masks.any(axis=0)
    assert ships.any()
    assert img[..., 0][ships].mean() > 2 * img[..., 0][~ships].mean()


def test_background_raster_crops_are_used(background_raster):
    from rossam_geo.synth.backgrounds import raster_crop

    crop = raster_crop((40, 40), np.random.default_rng(0), [background_raster])
    assert crop is not None and crop.shape == (40, 40, 3)
    # The fixture raster is green 90 / blue 60 everywhere, with a red ramp.
    assert np.allclose(crop[..., 1], 90, atol=1) and np.allclose(crop[..., 2], 60, atol=1)
    assert crop[..., 0].std() > 1.0


def test_rejects_bad_arguments():
    with pytest.raises(InputError, match=r"unknown scene kind 'forest'; choose one of: airfield"):
        generate_scene(0, kind="forest")
    with pytest.raises(InputError, match=r"unknown scene generator 'v9'; choose one of: v3, v4"):
        generate_scene(0, generator="v9")
    with pytest.raises(InputError, match=r"size_px must be at least 32, got 8"):
        generate_scene(0, size_px=8)


@pytest.mark.parametrize("make", [shapes.airplane, shapes.ship, shapes.car, shapes.truck])
def test_rasterised_area_matches_outline_area(make):
    from rossam_geo.synth.canvas import Canvas

    rng = np.random.default_rng(4)
    polys = shapes.place(make(60.0, rng), (64.0, 64.0), 0.7)
    outline = shapely.union_all([Polygon(p).buffer(0) for p in polys])
    canvas = Canvas(image=np.zeros((128, 128, 3), np.float32), rng=rng)
    mask = canvas.raster(polys)
    assert outline.geom_type == "Polygon"  # one connected outline
    # OpenCV fills every pixel an edge touches: the mask is the outline grown by under a pixel.
    assert outline.area <= mask.sum() <= outline.buffer(0.75).area
    # Length along the heading: about 60 px.
    rows, cols = np.nonzero(mask)
    heading = np.array([np.cos(0.7), np.sin(0.7)])
    extent = (np.stack([cols, rows], 1) - 64.0) @ heading
    assert 54 <= extent.max() - extent.min() <= 64


def test_train_is_one_object_of_several_cars():
    polys, bodies = shapes.train(200.0, np.random.default_rng(1))
    assert len(bodies) >= 2
    union = shapely.union_all([Polygon(p).buffer(0) for p in polys])
    assert union.geom_type == "Polygon"  # the couplings join the cars


def test_categories_cover_all_kinds():
    assert set().union(*EXPECTED_CLASSES.values()) == set(CATEGORIES)


def test_v3_generator_is_unchanged():
    """The v3 generator made rossam-compact-v3's training and validation scenes: it must not drift."""
    digest = hashlib.sha256()
    for i in range(6):
        scene = generate_scene((7, i), size_px=64)
        digest.update(scene.image_rgb.tobytes())
        digest.update(np.packbits(scene.masks).tobytes())
        digest.update(",".join(scene.classes).encode())
    assert digest.hexdigest() == V3_SCENES_SHA256


def test_v4_generator_draws_metric_vehicle_scenes_half_the_time():
    kinds = [generate_scene((5, i), size_px=48, generator="v4").kind for i in range(60)]
    assert set(kinds) <= set(KIND_WEIGHTS_V4)
    assert 0.3 <= sum(k in ("lot", "street") for k in kinds) / len(kinds) <= 0.7
    assert "parking" not in kinds and "road" not in kinds


def test_v4_scenes_are_reproducible_and_keep_sar_gray():
    a = generate_scene(21, size_px=96, kind="lot", generator="v4")
    b = generate_scene(21, size_px=96, kind="lot", generator="v4")
    assert np.array_equal(a.image_rgb, b.image_rgb) and np.array_equal(a.masks, b.masks)
    for seed in range(8):  # compression of a gray SAR scene keeps it one gray band
        img = generate_scene(seed, size_px=64, kind="sar", generator="v4").image_rgb
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])
