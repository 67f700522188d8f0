"""Dataset mode: engines run on the ground-truth boxes of a COCO folder and are scored together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rossam_geo.errors import EngineError, InputError
from rossam_geo.evaluate.dataset import evaluate_dataset, load_coco_dataset, read_image


@dataclass
class Result:
    mask: np.ndarray
    score: float
    status: str = "ok"
    reason: str = ""


class RecordingSegmenter:
    """Fills each box's top half (rounded pixel edges) and records every call."""

    def __init__(self, fail_on_shape: tuple[int, int] | None = None):
        self.calls: list[tuple[tuple[int, ...], np.ndarray]] = []
        self.fail_on_shape = fail_on_shape

    def segment_array(self, image: np.ndarray, boxes_px_xyxy: np.ndarray) -> list[Result]:
        self.calls.append((image.shape, boxes_px_xyxy.copy()))
        if image.shape[:2] == self.fail_on_shape:
            raise RuntimeError("device out of memory")
        out = []
        for x0, y0, x1, y1 in np.rint(boxes_px_xyxy).astype(int):
            mask = np.zeros(image.shape[:2], bool)
            mask[y0 : (y0 + y1) // 2, x0:x1] = True
            out.append(Result(mask, 0.5))
        return out


def test_load_dataset_reads_images_and_limits_objects(coco_dir: Path):
    ds = load_coco_dataset(coco_dir, max_objects=2)
    assert list(ds.gt.objects) == ["11", "12"]
    assert list(ds.gt.images) == ["1"]
    assert ds.image_paths["1"] == coco_dir / "images" / "a.png"
    rgb = read_image(ds.image_paths["1"])
    assert rgb.shape == (60, 80, 3) and tuple(rgb[6, 7]) == (230, 40, 40)
    gray = read_image(coco_dir / "images" / "b.png")
    assert gray.shape == (50, 50, 3)  # one band, replicated to gray RGB
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_load_dataset_errors(tmp_path: Path, coco_dir: Path):
    with pytest.raises(InputError, match="annotations.json not found; a dataset folder needs"):
        load_coco_dataset(tmp_path)
    with pytest.raises(InputError, match="--max-objects must be at least 1, got 0"):
        load_coco_dataset(coco_dir, max_objects=0)
    with pytest.raises(InputError, match="does not exist; check the path"):
        read_image(tmp_path / "none.png")


def test_engines_get_xyxy_boxes_and_are_scored(coco_dir: Path):
    seg = RecordingSegmenter()
    result = evaluate_dataset(coco_dir, ["half"], segmenter_factory=lambda e, w, d: seg)
    shapes = [c[0] for c in seg.calls]
    assert shapes == [(60, 80, 3), (50, 50, 3)]
    np.testing.assert_array_equal(seg.calls[0][1], [[6, 5, 14, 15], [40, 30, 70, 50]])
    np.testing.assert_array_equal(seg.calls[1][1], [[20, 20, 32, 32]])
    rep = result.report["engines"]["half"]
    rows = {r["object_id"]: r for r in rep["objects"]}
    # the top half of a rectangle box against the rectangle itself: IoU 0.5 for even heights
    assert rows["11"]["iou"] == pytest.approx(0.5) and rows["21"]["iou"] == pytest.approx(0.5)
    assert rows["11"]["score"] == 0.5 and rows["11"]["status"] == "ok"
    assert rep["overall"]["n"] == 3
    assert rep["timing"]["objects_segmented"] == 3
    assert rep["timing"]["seconds_per_object"] >= 0.0
    assert result.report["n_objects"] == 3 and result.report["n_images"] == 2


def test_one_failing_image_and_one_failing_engine_do_not_stop_the_run(coco_dir: Path):
    def factory(engine: str, weights: str | None, device: str):
        if engine == "broken":
            raise EngineError(f"no weights for {engine}")
        return RecordingSegmenter(fail_on_shape=(50, 50))

    result = evaluate_dataset(coco_dir, ["broken", "half"], segmenter_factory=factory)
    assert result.errors == {"broken": "no weights for broken"}
    assert result.report["engines"]["broken"] == {"error": "no weights for broken"}
    rows = {r.object_id: r for r in result.evaluations["half"].object_rows}
    assert rows["21"].status == "error" and rows["21"].reason == "RuntimeError: device out of memory"
    assert rows["21"].iou == 0.0
    assert rows["11"].status == "ok" and rows["11"].iou == pytest.approx(0.5)


def test_weights_and_device_reach_the_factory(coco_dir: Path):
    seen = []

    def factory(engine: str, weights: str | None, device: str):
        seen.append((engine, weights, device))
        return RecordingSegmenter()

    evaluate_dataset(
        coco_dir, ["a", "b"], weights={"b": "w.safetensors"}, device="cpu", segmenter_factory=factory
    )
    assert seen == [("a", None, "cpu"), ("b", "w.safetensors", "cpu")]


def test_no_engines_is_an_input_error(coco_dir: Path):
    with pytest.raises(InputError, match="no engine given; pass --engines box,grabcut"):
        evaluate_dataset(coco_dir, [])


def test_box_engine_end_to_end_recovers_rectangles(coco_dir: Path):
    # the real API and box engine: a box with pixel-edge corners gives back exactly its rectangle
    result = evaluate_dataset(coco_dir, ["box"], device="cpu")
    rows = {r.object_id: r for r in result.evaluations["box"].object_rows}
    assert rows["11"].iou == 1.0 and rows["21"].iou == 1.0
    assert rows["11"].status == "ok"
    # the polygon object's decoded mask is the 30 x 20 rectangle of its box too
    assert rows["12"].gt_area_px == 600 and rows["12"].iou == 1.0
    assert result.report["engines"]["box"]["per_image"]["n_images"] == 2


def test_box_engine_on_real_sar_ships_matches_pycocotools(shared_data: Path):
    # Independent check on real data: the box engine's mask is the bbox, so each object's IoU must equal
    # pycocotools' IoU between the annotation's RLE and the RLE of its (integer) bbox.
    import json

    from pycocotools import mask as mask_utils

    root = shared_data / "sar_ships"
    result = evaluate_dataset(root, ["box"], device="cpu", max_objects=25)
    rows = {r.object_id: r for r in result.evaluations["box"].object_rows}
    coco = json.loads((root / "annotations.json").read_text())
    checked = 0
    for ann in coco["annotations"][:25]:
        h, w = ann["segmentation"]["size"]
        box_rle = mask_utils.frPyObjects(np.array([ann["bbox"]], dtype=np.float64), h, w)
        expected = mask_utils.iou([box_rle[0]], [ann["segmentation"]], [0])[0, 0]
        assert rows[str(ann["id"])].iou == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked == 25 and len(rows) == 25


def test_background_boxes_are_shared_by_engines_and_avoid_objects(coco_dir: Path):
    segs = {"a": RecordingSegmenter(), "b": RecordingSegmenter()}
    result = evaluate_dataset(
        coco_dir, ["a", "b"], segmenter_factory=lambda e, w, d: segs[e], background_boxes=5, background_seed=3
    )
    assert result.report["background_boxes"] == {"requested": 5, "drawn": 5, "seed": 3}
    gt_boxes = {(60, 80, 3): [[6, 5, 14, 15], [40, 30, 70, 50]], (50, 50, 3): [[20, 20, 32, 32]]}
    sizes = {(8, 10), (30, 20), (12, 12)}
    for name, seg in segs.items():
        # per image: the objects, then its background boxes (3 on the first image, 2 on the second)
        assert [len(boxes) for _, boxes in seg.calls] == [2, 3, 1, 2]
        for shape, boxes in (seg.calls[1], seg.calls[3]):
            for x0, y0, x1, y1 in boxes:
                assert (x1 - x0, y1 - y0) in sizes
                assert 0 <= x0 and x1 <= shape[1] and 0 <= y0 and y1 <= shape[0]
                for gx0, gy0, gx1, gy1 in gt_boxes[shape]:
                    assert min(x1, gx1) <= max(x0, gx0) or min(y1, gy1) <= max(y0, gy0)
        background = result.report["engines"][name]["background"]
        assert background["n_boxes"] == 5 and background["mean_score"] == pytest.approx(0.5)
        first = background["boxes"][0]
        assert first["image"] == "images/a.png" and first["pred_area_px"] > 0 and first["status"] == "ok"
        # background boxes are not objects: neither scored nor timed as such
        assert result.report["engines"][name]["timing"]["objects_segmented"] == 3
    np.testing.assert_array_equal(segs["a"].calls[1][1], segs["b"].calls[1][1])
    again = evaluate_dataset(
        coco_dir,
        ["a"],
        segmenter_factory=lambda e, w, d: RecordingSegmenter(),
        background_boxes=5,
        background_seed=3,
    )
    assert (
        again.report["engines"]["a"]["background"]["boxes"]
        == result.report["engines"]["a"]["background"]["boxes"]
    )


def test_background_boxes_on_a_failing_image_have_no_score(coco_dir: Path):
    seg = RecordingSegmenter(fail_on_shape=(50, 50))
    result = evaluate_dataset(coco_dir, ["half"], segmenter_factory=lambda e, w, d: seg, background_boxes=4)
    background = result.report["engines"]["half"]["background"]
    # the failing image's objects are errors and its background boxes are never prompted
    assert background["n_boxes"] == 2 and background["n_scored"] == 2
    assert (
        "background"
        not in evaluate_dataset(
            coco_dir, ["half"], segmenter_factory=lambda e, w, d: RecordingSegmenter()
        ).report["engines"]["half"]
    )


def test_engine_options_reach_the_engine_and_are_checked(coco_dir: Path):
    evaluation = evaluate_dataset(coco_dir, ["box"], device="cpu", engine_options={"box": {"batch_size": 1}})
    assert evaluation.report["engines"]["box"]["settings"]["options"] == {"batch_size": 1}
    with pytest.raises(InputError, match="which is not among the engines"):
        evaluate_dataset(coco_dir, ["box"], engine_options={"rossam": {"tta": "none"}})
    with pytest.raises(InputError, match="apply to the default segmenter factory"):
        evaluate_dataset(
            coco_dir,
            ["box"],
            engine_options={"box": {}},
            segmenter_factory=lambda *_: None,  # type: ignore[arg-type,return-value]
        )
