from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rossam_geo.errors import InputError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import load_merged
from rossam_geo.synth.recipe import (
    BoxCentredCrop,
    CompactTrainSettings,
    iou_head_parameters,
    train_compact,
)


def _one_object_sample(box_xyxy: tuple[int, int, int, int]) -> dict:
    image = np.full((200, 300, 3), 50, np.uint8)
    masks = np.zeros((1, 200, 300), bool)
    x0, y0, x1, y1 = box_xyxy
    masks[0, y0:y1, x0:x1] = True
    image[masks[0]] = 220
    return {"image": image, "masks": masks, "boxes": np.array([box_xyxy], float), "classes": ["car"]}


@pytest.mark.parametrize("seed", range(4))
def test_crop_centres_the_object_at_the_sampling_rate(seed):
    transform = BoxCentredCrop(128, upsample_range=(2.0, 2.0), box_noise=0.0, photometric=False)
    out = transform(_one_object_sample((140, 90, 150, 106)), np.random.default_rng(seed))
    assert out["image"].shape == (128, 128, 3)
    (x0, y0, x1, y1) = out["boxes"][0]
    # A 10 x 16 px object in a 64 px window, 2x: a 20 x 32 (or 32 x 20) box about the input centre.
    assert sorted([x1 - x0, y1 - y0]) == pytest.approx([20, 32], abs=1)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((64, 64), abs=1.5)
    inside = out["image"][out["masks"][0]].astype(float).mean()
    outside = out["image"][~out["masks"][0]].astype(float).mean()
    assert inside > 200 and outside < 70
    assert np.array_equal(out["prompt_boxes"], out["boxes"])


def test_crop_keeps_at_most_max_objects():
    masks = np.zeros((9, 64, 64), bool)
    for i in range(9):
        masks[i, 4 + 6 * i : 8 + 6 * i, 10:20] = True
    sample = {
        "image": np.zeros((64, 64, 3), np.uint8),
        "masks": masks,
        "boxes": np.zeros((9, 4)),
        "classes": ["car"] * 9,
    }
    out = BoxCentredCrop(128, max_objects=3)(sample, np.random.default_rng(0))
    assert 1 <= len(out["classes"]) <= 3


def test_rejects_bad_upsample_range():
    with pytest.raises(InputError, match=r"need 0 < min <= max in upsample_range, got \(3.0, 2.0\)"):
        BoxCentredCrop(128, upsample_range=(3.0, 2.0))


def _two_steps(**overrides) -> CompactTrainSettings:
    """Settings of a two-step, two-image smoke run."""
    options = dict(minutes=5.0, max_steps=2, batch_size=2, workers=0, warmup_steps=1, loss_points=256)
    return CompactTrainSettings(**{**options, **overrides})


def test_train_compact_trains_every_parameter_and_exports(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_rossam("tiny", lora_rank=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = _two_steps()
    lines: list[str] = []
    summary = train_compact(tiny_dataset, tmp_path / "m.safetensors", settings, log=lines.append, model=model)
    assert summary["steps"] == 2 and summary["images_seen"] == 2 * summary["steps"]
    loaded = load_merged(tmp_path / "m.safetensors")
    after = loaded.state_dict()
    # The encoder's first layer and both decoders moved: all parameters are trained, not a frozen subset.
    for key in (
        "image_encoder.patch_embed.proj.weight",
        "mask_decoder.iou_token.weight",
        "hq_decoder.hf_token.weight",
    ):
        assert not torch.equal(before[key], after[key]), key
    assert lines and '"steps"' in lines[-1]


@pytest.mark.parametrize("seed", range(4))
def test_crop_adds_background_boxes_with_empty_targets_away_from_objects(seed):
    transform = BoxCentredCrop(128, upsample_range=(2.0, 2.0), box_noise=0.0, background_boxes=2)
    out = transform(_one_object_sample((140, 90, 150, 106)), np.random.default_rng(seed))
    assert out["classes"][0] == "car" and out["classes"][1:] == ["background"] * (len(out["classes"]) - 1)
    assert len(out["classes"]) == 3  # a 64 px window holds room for two more 20 x 32 px boxes
    object_box = out["boxes"][0]
    for box, prompt, mask in zip(out["boxes"][1:], out["prompt_boxes"][1:], out["masks"][1:], strict=True):
        assert not mask.any()
        assert np.array_equal(box, prompt)
        assert sorted(box[2:] - box[:2]) == pytest.approx(sorted(object_box[2:] - object_box[:2]), abs=1)
        # no overlap with the object's box, inside the 128 px model input
        overlap_x = min(box[2], object_box[2]) - max(box[0], object_box[0])
        overlap_y = min(box[3], object_box[3]) - max(box[1], object_box[1])
        assert overlap_x <= 0 or overlap_y <= 0
        assert box.min() >= 0 and box.max() <= 128


def _masks_and_scores(model, images, boxes):
    logits, scores = model.predict(images, boxes, mode="hq")
    return logits > 0, scores


def test_iou_head_only_training_changes_the_heads_and_nothing_else(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_rossam("tiny", lora_rank=0).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    heads = set(iou_head_parameters(model))
    assert heads and all(".iou_prediction_head." in k for k in heads)
    assert any(k.startswith("mask_decoder.") for k in heads) and any(
        k.startswith("hq_decoder.") for k in heads
    )
    images = torch.randint(0, 255, (2, 128, 128, 3), dtype=torch.uint8)
    boxes = torch.tensor([[30.0, 40.0, 90.0, 80.0], [10.0, 10.0, 50.0, 100.0]])
    masks_before, scores_before = _masks_and_scores(model, images, boxes)
    settings = _two_steps(iou_head_only=True, background_boxes=1)
    train_compact(tiny_dataset, tmp_path / "m.safetensors", settings, log=lambda _: None, model=model)
    loaded = load_merged(tmp_path / "m.safetensors")
    after = loaded.state_dict()
    assert set(after) == set(before)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # both heads trained (one step each), every other tensor bit-identical
    assert changed <= heads
    assert any(k.startswith("mask_decoder.") for k in changed)
    assert any(k.startswith("hq_decoder.") for k in changed)
    masks_after, scores_after = _masks_and_scores(loaded, images, boxes)
    assert torch.equal(masks_before, masks_after)
    assert not torch.equal(scores_before, scores_after)


def test_without_iou_loss_the_heads_get_no_gradient(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_rossam("tiny", lora_rank=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = _two_steps(iou_loss_weight=0.0)
    summary = train_compact(
        tiny_dataset, tmp_path / "m.safetensors", settings, log=lambda _: None, model=model
    )
    after = load_merged(tmp_path / "m.safetensors").state_dict()
    heads = set(iou_head_parameters(model))
    assert all(torch.equal(before[k], after[k]) for k in heads)
    assert not torch.equal(before["hq_decoder.hf_token.weight"], after["hq_decoder.hf_token.weight"])
    assert math.isnan(summary["final_iou_mse"]) and summary["trained"] == "all parameters"


def test_iou_head_only_needs_a_model_and_a_loss_weight(tiny_dataset, tmp_path):
    with pytest.raises(InputError, match="iou_head_only trains the IoU heads of a trained model"):
        train_compact(tiny_dataset, tmp_path / "m.safetensors", CompactTrainSettings(iou_head_only=True))
    with pytest.raises(InputError, match=r"iou_loss_weight > 0 \(got 0.0\)"):
        train_compact(
            tiny_dataset,
            tmp_path / "m.safetensors",
            CompactTrainSettings(iou_head_only=True, iou_loss_weight=0.0),
            model=build_rossam("tiny", lora_rank=0),
        )
