from __future__ import annotations

import contextlib
import itertools

import pytest
import torch

from rossam_geo.model.build import build_rossam
from rossam_geo.synth.gpu_recipe import host_tensors, hq_step_losses, lr_factor, square_symmetry
from rossam_geo.synth.stream import SceneCropStream, StreamSettings, collate_crops
from rossam_geo.train.losses import MaskLoss
from rossam_geo.train.transforms import masks_to_boxes_xyxy


def test_lr_warms_up_then_follows_a_cosine_over_the_budget():
    assert lr_factor(0, 0.0, 100, 0.02) == pytest.approx(0.01)
    assert lr_factor(99, 0.0, 100, 0.02) == pytest.approx(1.0)
    assert lr_factor(500, 0.5, 100, 0.02) == pytest.approx(0.02 + 0.98 * 0.5)
    assert lr_factor(500, 1.0, 100, 0.02) == pytest.approx(0.02)
    assert lr_factor(500, 1.7, 100, 0.02) == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("transpose", "flip_lr", "flip_ud"), list(itertools.product([False, True], repeat=3))
)
def test_square_symmetries_move_boxes_with_their_masks(transpose, flip_lr, flip_ud):
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[0, 2:5, 3:11] = True
    masks[1, 9:15, 12:14] = True
    boxes = torch.from_numpy(masks_to_boxes_xyxy(masks.numpy())).float()
    images = torch.zeros(1, 16, 16, 3, dtype=torch.uint8)
    images[0][masks[0]] = 255
    batch = {"images": images, "masks": masks, "prompt_boxes": boxes, "image_index": torch.zeros(2).long()}
    out = square_symmetry(batch, transpose, flip_lr, flip_ud)
    moved = out["masks"]
    expected = torch.from_numpy(masks_to_boxes_xyxy(moved.numpy())).float()
    assert torch.equal(out["prompt_boxes"], expected)
    assert torch.equal(out["images"][0][..., 0] == 255, moved[0])
    assert torch.equal(out["image_index"], batch["image_index"])


def test_hq_step_trains_encoder_decoder_and_iou_head_in_one_pass():
    torch.manual_seed(0)
    net = build_rossam("tiny", lora_rank=0).requires_grad_(True).train()
    stream = SceneCropStream(StreamSettings(scene_size_px=96, shuffle_buffer=4))
    batch = host_tensors(collate_crops(list(itertools.islice(iter(stream), 3))), pin=False)
    losses = hq_step_losses(net, batch, MaskLoss(num_points=256), 1.0, contextlib.nullcontext)
    assert torch.isfinite(losses["loss"]) and losses["iou"] > 0
    assert losses["loss"].item() == pytest.approx((losses["mask"] + losses["iou"]).item(), rel=1e-6)
    losses["loss"].backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    assert grads["image_encoder.blocks.0.attn.qkv.weight"].abs().sum() > 0
    assert grads["hq_decoder.hf_token.weight"].abs().sum() > 0
    assert grads["hq_decoder.iou_prediction_head.layers.0.weight"].abs().sum() > 0
    assert grads["mask_decoder.mask_tokens.weight"] is None  # SAM's decoder is not used by HQ mode
