from __future__ import annotations

import numpy as np
import pytest
import torch

from rossam_geo.errors import InputError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import load_merged
from rossam_geo.synth.recipe import BoxCentredCrop, CompactTrainSettings, train_compact


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


def test_train_compact_trains_every_parameter_and_exports(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_rossam("tiny", lora_rank=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = CompactTrainSettings(
        minutes=5.0, max_steps=2, batch_size=2, workers=0, warmup_steps=1, loss_points=256
    )
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
