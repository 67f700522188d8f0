"""Test-time augmentation: exact box transforms, inverse logits, equivariance of d8, the auto default."""

from __future__ import annotations

import numpy as np
import pytest

from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.engines.tta import Symmetry, symmetries
from rossam_geo.errors import InputError
from tests.fastpath.conftest import BLOB_BOXES


def _marked(size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """(1, size, size, 3) uint8 noise below 200, with the box region (XYXY pixel edges) set to 255."""
    image = np.random.default_rng(0).integers(0, 200, (1, size, size, 3), dtype=np.uint8)
    x0, y0, x1, y1 = box
    image[0, y0:y1, x0:x1] = 255
    return image


@pytest.mark.parametrize("symmetry", symmetries("d8"))
def test_box_follows_the_image_and_logits_come_back(symmetry: Symmetry):
    size, box = 12, (2, 1, 5, 9)  # off-centre, not square
    image = _marked(size, box)
    moved = symmetry.images(image)
    x0, y0, x1, y1 = symmetry.boxes(np.array([box], float), size)[0].astype(int)
    assert (moved[0, y0:y1, x0:x1] == 255).all()
    assert (moved == 255).sum() == (image == 255).sum()  # the marked region is exactly the moved box
    channel = image[..., 0].astype(np.float32)
    assert np.array_equal(symmetry.invert_logits(symmetry.images(image)[..., 0].astype(np.float32)), channel)


def test_modes_hold_1_4_and_8_distinct_symmetries():
    image = _marked(10, (1, 2, 4, 7))
    for mode, count in (("none", 1), ("flips", 4), ("d8", 8)):
        found = symmetries(mode)
        assert len(found) == count and found[0] == Symmetry()
        assert len({s.images(image).tobytes() for s in found}) == count
    with pytest.raises(
        InputError, match="unknown test-time augmentation 'rot'; choose one of: none, flips, d8"
    ):
        symmetries("rot")


def test_d8_prediction_is_the_mean_of_the_variants_and_equivariant(tiny_rossam, blob_image):
    plain = build_rossam_engine(model=tiny_rossam, device="cpu", tta="none")
    size = plain.input_size_px
    images = np.stack([np.resize(blob_image, (size, size, 3))] * 2).astype(np.uint8)
    boxes = np.array([[10.0, 12.0, 40.0, 30.0], [50.0, 20.0, 60.0, 55.0]]) * size / 64
    augmented = build_rossam_engine(model=tiny_rossam, device="cpu", tta="d8", batch_size=4)
    result = augmented.predict(images, boxes)

    variants = symmetries("d8")
    manual = [
        v.invert_logits(
            plain.predict(np.ascontiguousarray(v.images(images)), v.boxes(boxes, size)).mask_logits
        )
        for v in variants
    ]
    np.testing.assert_allclose(result.mask_logits, np.mean(manual, axis=0), atol=1e-4)
    assert not np.allclose(result.mask_logits, plain.predict(images, boxes).mask_logits, atol=1e-3)

    # Averaging over the whole group: segmenting a transposed, flipped input gives the transformed masks.
    move = Symmetry(transpose=True, flip_lr=True)
    moved = augmented.predict(np.ascontiguousarray(move.images(images)), move.boxes(boxes, size))
    np.testing.assert_allclose(move.invert_logits(moved.mask_logits), result.mask_logits, atol=1e-4)


def test_auto_is_d8_for_the_compact_network_only(tiny_rossam):
    assert build_rossam_engine(model=tiny_rossam, device="cpu").tta == "none"
    assert build_rossam_engine(device="cpu").tta == "d8"  # the bundled compact model
    assert build_rossam_engine(device="cpu", tta="none").tta == "none"
    with pytest.raises(InputError, match="unknown tta 'all'; choose one of: auto, none, flips, d8"):
        build_rossam_engine(model=tiny_rossam, device="cpu", tta="all")


def test_variants_of_an_object_share_a_forward_pass(tiny_rossam, blob_image):
    engine = build_rossam_engine(model=tiny_rossam, device="cpu", tta="flips", batch_size=8)
    calls: list[int] = []
    predict = engine.model.predict

    def counting(images, boxes, mode, runners=None):  # type: ignore[no-untyped-def]
        calls.append(len(images))
        return predict(images, boxes, mode=mode, runners=runners)

    engine.model.predict = counting  # type: ignore[method-assign]
    size = engine.input_size_px
    images = np.stack([np.resize(blob_image, (size, size, 3))] * 3).astype(np.uint8)
    engine.predict(images, np.tile(BLOB_BOXES[:1] * size / 96, (3, 1)))
    assert calls == [8, 4]  # 2 objects x 4 flips, then the third object's 4


def test_without_augmentation_inputs_and_outputs_are_not_copied():
    from rossam_geo.engines.tta import augment, merge

    images, boxes = _marked(8, (1, 1, 4, 5)), np.array([[1.0, 1.0, 4.0, 5.0]])
    identity = symmetries("none")
    assert augment(images, boxes, 8, identity)[0] is images
    logits, scores = np.zeros((1, 8, 8), np.float32), np.ones(1, np.float32)
    merged_logits, merged_scores = merge(logits, scores, identity)
    assert merged_logits is logits and merged_scores is scores
    stacked_images, stacked_boxes = augment(images, boxes, 8, symmetries("flips"))
    assert stacked_images.shape == (4, 8, 8, 3) and stacked_boxes.shape == (4, 4)


@pytest.mark.parametrize("symmetry", symmetries("d8"))
def test_points_follow_the_image_exactly_as_the_box_corners(symmetry: Symmetry):
    size = 12
    image = np.zeros((1, size, size, 3), np.uint8)
    clicks = np.array([[[2.5, 7.5], [9.5, 1.5], [0.5, 11.5]]])  # pixel centres, off the diagonals
    for value, (x, y) in enumerate(clicks[0], start=1):
        image[0, int(y), int(x)] = value * 60
    moved_image, moved = symmetry.images(image), symmetry.points(clicks, size)
    for value, (x, y) in enumerate(moved[0], start=1):
        assert x % 1 == 0.5 and y % 1 == 0.5  # still pixel centres
        assert moved_image[0, int(y), int(x), 0] == value * 60  # on the same pixel of the moved image
    box = np.array([[2.0, 1.0, 5.0, 9.0]])
    corners = np.array([[[2.0, 1.0], [5.0, 9.0]]])
    moved_box = symmetry.boxes(box, size)[0]
    moved_corners = symmetry.points(corners, size)[0]
    assert sorted(moved_corners[:, 0]) == sorted(moved_box[[0, 2]])
    assert sorted(moved_corners[:, 1]) == sorted(moved_box[[1, 3]])


def test_d8_prediction_with_clicks_is_the_mean_of_the_moved_clicks(tiny_rossam, blob_image):
    plain = build_rossam_engine(model=tiny_rossam, device="cpu", tta="none")
    size = plain.input_size_px
    images = np.stack([np.resize(blob_image, (size, size, 3))] * 2).astype(np.uint8)
    boxes = np.array([[10.0, 12.0, 40.0, 30.0], [50.0, 20.0, 60.0, 55.0]]) * size / 64
    points = np.array([[[30.0, 40.0], [70.0, 44.0]], [[110.0, 60.0], [0.0, 0.0]]])
    labels = np.array([[1, 0], [1, -1]])
    augmented = build_rossam_engine(model=tiny_rossam, device="cpu", tta="d8", batch_size=4)
    result = augmented.predict(images, boxes, points, labels)

    manual = [
        v.invert_logits(
            plain.predict(
                np.ascontiguousarray(v.images(images)), v.boxes(boxes, size), v.points(points, size), labels
            ).mask_logits
        )
        for v in symmetries("d8")
    ]
    np.testing.assert_allclose(result.mask_logits, np.mean(manual, axis=0), atol=1e-4)
    # the clicks reach the network: without them the logits differ
    assert not np.allclose(result.mask_logits, augmented.predict(images, boxes).mask_logits, atol=1e-3)
