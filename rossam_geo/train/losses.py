"""Mask losses: binary cross-entropy plus Dice, on every pixel or on uncertainty-sampled points.

``dense``: the low-resolution mask logits (N, h, w) are upsampled bilinearly to the ground-truth resolution
(N, H, W) and every pixel counts. ``points``: as in HQ-SAM, the logits and the ground truth are both read at
the same continuous points (bilinear interpolation, coordinates in [0, 1] of the mask frame), chosen by
importance sampling of uncertain points (uncertainty = -|logit|), so neither is resampled onto the other's
grid.

``iou_head_loss``: SAM's IoU-prediction loss, the mean squared error between the predicted IoU and the actual
IoU of the (detached) predicted mask with the ground truth; ``upsampled_iou_head_loss`` first upsamples
low-resolution mask logits to the ground truth's grid, as inference upsamples them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss per mask: ``1 - (2 sum(p t) + 1) / (sum p + sum t + 1)`` with ``p = sigmoid(logits)``.

    Args:
        logits: (N, ...) float mask logits.
        targets: (N, ...) float in [0, 1], same shape.

    Returns:
        (N,) float losses.
    """
    probs = logits.sigmoid().flatten(1)
    t = targets.flatten(1).to(probs.dtype)
    numerator = 2.0 * (probs * t).sum(dim=1) + 1.0
    denominator = probs.sum(dim=1) + t.sum(dim=1) + 1.0
    return 1.0 - numerator / denominator


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy with logits, averaged per mask.

    Args:
        logits: (N, ...) float mask logits.
        targets: (N, ...) float in [0, 1], same shape.
        pos_weight: weight of the foreground term.

    Returns:
        (N,) float losses.
    """
    weight = None if pos_weight == 1.0 else torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    per_element = F.binary_cross_entropy_with_logits(
        logits.flatten(1), targets.flatten(1).to(logits.dtype), pos_weight=weight, reduction="none"
    )
    return per_element.mean(dim=1)


def iou_head_loss(iou_pred: torch.Tensor, mask_logits: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted IoUs and the actual IoUs of the predicted masks, as SAM trains it.

    The predicted mask is ``mask_logits > 0`` (detached: no gradient reaches the mask logits); the ground
    truth is ``gt_masks > 0.5``. A pair whose union is empty (nothing predicted, nothing to find) has IoU 0,
    as in the evaluation (``pycocotools``): a box over background should score 0 whatever the mask.

    Args:
        iou_pred: (N,) or (N, 1) float predicted IoUs.
        mask_logits: (N, 1, h, w) float mask logits.
        gt_masks: (N, 1, h, w) bool or float ground-truth masks, at the resolution of ``mask_logits``.

    Returns:
        Scalar float32 mean squared error over the N masks; gradients flow only through ``iou_pred``. With
        N = 0 it is zero (still connected to ``iou_pred``).
    """
    pred = iou_pred.reshape(-1).float()
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    with torch.no_grad():
        pred_fg = (mask_logits.detach() > 0).flatten(1)
        gt_fg = (gt_masks.detach().float() > 0.5).flatten(1)
        inter = (pred_fg & gt_fg).sum(dim=1).float()
        union = (pred_fg | gt_fg).sum(dim=1).float()
        actual = inter / union.clamp(min=1.0)
    return F.mse_loss(pred, actual.to(pred.device))


def upsampled_iou_head_loss(
    iou_pred: torch.Tensor, mask_logits: torch.Tensor, targets: torch.Tensor, chunk: int = 32
) -> torch.Tensor:
    """:func:`iou_head_loss` with the masks upsampled to the ground truth's grid.

    Args:
        iou_pred: (N, 1) predicted IoUs.
        mask_logits: (N, h, w) low-resolution mask logits (detached here).
        targets: (N, H, W) ground-truth masks.
        chunk: masks upsampled at a time (bounds memory at 1024 px inputs).

    Returns:
        Scalar mean squared error over the N masks, with gradients only into ``iou_pred``.
    """
    n = mask_logits.shape[0]
    if n == 0:
        return iou_head_loss(iou_pred, mask_logits[:, None], targets[:, None])
    size = tuple(targets.shape[-2:])
    total = iou_pred.new_zeros((), dtype=torch.float32)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        with torch.no_grad():
            low = mask_logits[part].detach().float()[:, None]
            if tuple(low.shape[-2:]) != size:
                low = F.interpolate(low, size, mode="bilinear", align_corners=False)
        total = total + iou_head_loss(iou_pred[part], low, targets[part][:, None]) * low.shape[0]
    return total / n


def point_sample(values: torch.Tensor, coords_01: torch.Tensor) -> torch.Tensor:
    """Read (N, H, W) maps at (N, P, 2) points, bilinearly.

    Args:
        values: (N, H, W) float.
        coords_01: (N, P, 2) float, (x, y) in [0, 1] of the map's extent (0: left/top edge, 1: right/bottom
            edge).

    Returns:
        (N, P) float samples.
    """
    grid = (2.0 * coords_01 - 1.0).unsqueeze(1)  # (N, 1, P, 2) in [-1, 1]
    sampled = F.grid_sample(values.unsqueeze(1), grid.to(values.dtype), mode="bilinear", align_corners=False)
    return sampled[:, 0, 0, :]


def uncertain_point_coords(
    logits: torch.Tensor,
    num_points: int,
    oversample_ratio: float = 3.0,
    importance_ratio: float = 0.75,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose points by importance sampling of uncertain locations (HQ-SAM / PointRend training).

    ``num_points * oversample_ratio`` uniform candidates are drawn; the ``importance_ratio * num_points`` most
    uncertain (largest ``-|logit|``) are kept and the rest of the points are drawn uniformly.

    Args:
        logits: (N, h, w) mask logits (no gradient flows through the choice).
        num_points: points per mask.
        oversample_ratio: candidates per kept point (>= 1).
        importance_ratio: share of the points chosen by uncertainty, in [0, 1].
        generator: random generator (``None``: torch's default), on the logits' device.

    Returns:
        (N, num_points, 2) float (x, y) coordinates in [0, 1].
    """
    n = logits.shape[0]
    device = logits.device
    num_candidates = max(num_points, int(num_points * oversample_ratio))
    num_uncertain = int(importance_ratio * num_points)
    num_random = num_points - num_uncertain
    with torch.no_grad():
        candidates = torch.rand(n, num_candidates, 2, device=device, generator=generator)
        uncertainty = -point_sample(logits.detach().float(), candidates).abs()
        top = uncertainty.topk(num_uncertain, dim=1).indices  # (N, num_uncertain)
        chosen = torch.gather(candidates, 1, top.unsqueeze(-1).expand(-1, -1, 2))
        if num_random > 0:
            extra = torch.rand(n, num_random, 2, device=device, generator=generator)
            chosen = torch.cat([chosen, extra], dim=1)
    return chosen


@dataclass(frozen=True)
class MaskLoss:
    """BCE + Dice mask loss.

    Attributes:
        sampling: ``points`` (HQ-SAM's point-sampled loss) or ``dense`` (every ground-truth pixel).
        num_points: points per mask for ``points`` (112 x 112).
        oversample_ratio: candidate points per kept point.
        importance_ratio: share of points chosen by uncertainty.
        bce_weight: weight of the BCE term.
        dice_weight: weight of the Dice term.
        bce_pos_weight: weight of the foreground in BCE.
    """

    sampling: Literal["points", "dense"] = "points"
    num_points: int = 112 * 112
    oversample_ratio: float = 3.0
    importance_ratio: float = 0.75
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    bce_pos_weight: float = 1.0

    def __call__(
        self, logits: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Loss of mask logits against ground-truth masks.

        Args:
            logits: (N, h, w) float mask logits covering the same extent as ``targets`` (any resolution).
            targets: (N, H, W) bool or float ground-truth masks.
            generator: random generator for point sampling.

        Returns:
            ``{"loss", "bce", "dice"}``: scalar tensors, each averaged over the N masks (``loss`` is the
            weighted sum). With N = 0 all are zero (and ``loss`` still carries a graph to ``logits``).
        """
        if logits.shape[0] == 0:
            zero = logits.sum() * 0.0
            return {"loss": zero, "bce": zero.detach(), "dice": zero.detach()}
        logits = logits.float()
        targets_f = targets.to(torch.float32)
        if self.sampling == "dense":
            if logits.shape[-2:] != targets_f.shape[-2:]:
                logits = F.interpolate(
                    logits.unsqueeze(1), size=targets_f.shape[-2:], mode="bilinear", align_corners=False
                )[:, 0]
            pred, true = logits, targets_f
        else:
            coords = uncertain_point_coords(
                logits, self.num_points, self.oversample_ratio, self.importance_ratio, generator
            )
            pred = point_sample(logits, coords)
            true = point_sample(targets_f, coords)
        bce = bce_loss(pred, true, self.bce_pos_weight).mean()
        dice = dice_loss(pred, true).mean()
        loss = self.bce_weight * bce + self.dice_weight * dice
        return {"loss": loss, "bce": bce.detach(), "dice": dice.detach()}
