from __future__ import annotations

import math

import pytest
import torch

from rossam_geo.train.losses import (
    MaskLoss,
    bce_loss,
    dice_loss,
    iou_head_loss,
    point_sample,
    uncertain_point_coords,
)


def test_dice_hand_computed():
    # p = 0.5 everywhere, 2 of 4 pixels foreground: 1 - (2*1 + 1) / (2 + 2 + 1) = 0.4
    logits = torch.zeros(1, 2, 2)
    targets = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert dice_loss(logits, targets).item() == pytest.approx(0.4)
    # Confident and right: p ~ t, 1 - (2*2 + 1) / (2 + 2 + 1) = 0
    assert dice_loss((targets * 2 - 1) * 50, targets).item() == pytest.approx(0.0, abs=1e-6)
    # Empty target, p = 0.5 on 4 pixels: 1 - 1 / (2 + 0 + 1) = 2/3
    assert dice_loss(logits, torch.zeros(1, 2, 2)).item() == pytest.approx(2 / 3)


def test_bce_hand_computed():
    logits = torch.zeros(1, 2)
    targets = torch.tensor([[1.0, 0.0]])
    assert bce_loss(logits, targets).item() == pytest.approx(math.log(2))
    # foreground weight 10: (10 log 2 + log 2) / 2
    assert bce_loss(logits, targets, pos_weight=10.0).item() == pytest.approx(5.5 * math.log(2))
    # logit 2 on a foreground pixel: log(1 + e^-2)
    assert bce_loss(torch.tensor([[2.0]]), torch.tensor([[1.0]])).item() == pytest.approx(
        math.log1p(math.exp(-2))
    )


def test_point_sample_reads_pixel_centres_and_interpolates():
    values = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    coords = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.5, 0.5]]])
    assert point_sample(values, coords)[0].tolist() == pytest.approx([0.0, 1.0, 2.0, 1.5])


def test_uncertain_points_concentrate_on_the_boundary():
    # Logits: -10 left, +10 right, 0 on a 2-column band in the middle (the uncertain region).
    logits = torch.full((1, 32, 32), -10.0)
    logits[:, :, 17:] = 10.0
    logits[:, :, 15:17] = 0.0
    gen = torch.Generator().manual_seed(0)
    coords = uncertain_point_coords(logits, 200, oversample_ratio=3.0, importance_ratio=0.75, generator=gen)
    assert coords.shape == (1, 200, 2)
    assert ((coords >= 0) & (coords <= 1)).all()
    sampled = point_sample(logits, coords)[0]
    uncertain = (sampled.abs() < 9.5).float()
    # ~150 importance points plus ~6% of the 50 uniform ones fall near the band; uniform sampling gives ~9%.
    assert uncertain[:150].mean() > 0.2
    assert uncertain.mean() > 2 * ((logits.abs() < 9.5).float().mean())


@pytest.mark.parametrize("sampling", ["dense", "points"])
def test_mask_loss_orders_predictions_and_has_gradients(sampling):
    targets = torch.zeros(2, 64, 64, dtype=torch.bool)
    targets[0, 16:48, 16:48] = True
    targets[1, 8:24, 30:60] = True
    # low-resolution logits (16 x 16) of the right and of the inverted masks
    low = torch.nn.functional.avg_pool2d(targets.float().unsqueeze(1), 4)[:, 0]
    good = ((low - 0.5) * 40).requires_grad_(True)
    bad = -good.detach()
    loss = MaskLoss(sampling=sampling, num_points=500)
    gen = torch.Generator().manual_seed(0)
    good_loss = loss(good, targets, generator=gen)
    bad_loss = loss(bad, targets, generator=gen)
    assert good_loss["loss"].item() < 0.15
    assert bad_loss["loss"].item() > 5.0
    good_loss["loss"].backward()
    assert good.grad is not None and torch.isfinite(good.grad).all()


def test_dense_and_point_losses_agree_for_constant_logits():
    targets = torch.zeros(1, 40, 40, dtype=torch.bool)
    targets[0, :20] = True  # half foreground
    logits = torch.zeros(1, 10, 10)
    dense = MaskLoss(sampling="dense")(logits, targets)
    points = MaskLoss(sampling="points", num_points=4000)(
        logits, targets, generator=torch.Generator().manual_seed(1)
    )
    assert dense["bce"].item() == pytest.approx(math.log(2))
    assert points["bce"].item() == pytest.approx(math.log(2))
    # dense Dice: 1 - (2 * 0.5 * 800 + 1) / (800 + 800 + 1)
    assert dense["dice"].item() == pytest.approx(1 - 801 / 1601)
    assert points["dice"].item() == pytest.approx(0.5, abs=0.03)


def test_mask_loss_without_objects_is_zero_with_graph():
    logits = torch.zeros(0, 8, 8, requires_grad=True)
    out = MaskLoss()(logits, torch.zeros(0, 32, 32, dtype=torch.bool))
    assert out["loss"].item() == 0.0
    out["loss"].backward()


def test_iou_head_loss_hand_computed():
    # Mask 0: predicted 2 px, truth 4 px, overlap 2 -> IoU 0.5; mask 1: exact -> IoU 1.
    logits = torch.full((2, 1, 2, 2), -5.0)
    logits[0, 0, 0, :] = 5.0
    logits[1, 0, 1, 0] = 5.0
    gt = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    gt[0] = True
    gt[1, 0, 1, 0] = True
    iou_pred = torch.tensor([0.7, 0.6])
    expected = ((0.7 - 0.5) ** 2 + (0.6 - 1.0) ** 2) / 2
    assert iou_head_loss(iou_pred, logits, gt).item() == pytest.approx(expected)
    # (N, 1) predictions and float targets give the same value
    assert iou_head_loss(iou_pred[:, None], logits, gt.float()).item() == pytest.approx(expected)
    # nothing predicted and nothing to find has IoU 0, as in the evaluation
    empty = iou_head_loss(torch.tensor([0.5]), torch.full((1, 1, 2, 2), -1.0), torch.zeros(1, 1, 2, 2))
    assert empty.item() == pytest.approx(0.25)


def test_iou_head_loss_gradient_reaches_only_the_prediction():
    iou_pred = torch.tensor([0.2, 0.9], requires_grad=True)
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    gt = torch.rand(2, 1, 8, 8) > 0.5
    loss = iou_head_loss(iou_pred, logits, gt)
    loss.backward()
    assert logits.grad is None
    assert iou_pred.grad is not None
    pred_fg, gt_fg = (logits.detach() > 0).flatten(1), gt.flatten(1)
    actual = (pred_fg & gt_fg).sum(1) / (pred_fg | gt_fg).sum(1)
    assert torch.allclose(iou_pred.grad, (iou_pred.detach() - actual) * 2 / 2)


def test_iou_head_loss_without_masks_is_zero_with_graph():
    iou_pred = torch.zeros(0, 1, requires_grad=True)
    loss = iou_head_loss(iou_pred, torch.zeros(0, 1, 4, 4), torch.zeros(0, 1, 4, 4))
    assert loss.item() == 0.0
    loss.backward()
    assert iou_pred.grad is not None
