"""Training the IoU head: the score learns to rank masks by their actual IoU."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rossam_geo.evaluate.metrics import spearman_correlation
from rossam_geo.model.compact import load_bundled
from rossam_geo.synth import write_coco_dataset
from rossam_geo.synth.recipe import BoxCentredCrop, iou_head_parameters
from rossam_geo.train.data import AugmentedDataset, CocoInstances, collate_samples
from rossam_geo.train.loop import training_step
from rossam_geo.train.losses import MaskLoss


def _score_iou_spearman(model, batch) -> float | None:
    """Spearman correlation of the HQ score with the actual IoU of the HQ mask (thresholded at 0)."""
    model.eval()
    with torch.no_grad():
        out = model(batch["images"].permute(0, 3, 1, 2), batch["prompt_boxes"], decoders="hq")
    model.train()
    size = batch["images"].shape[1]
    logits = F.interpolate(out["hq_mask_logits"], (size, size), mode="bilinear", align_corners=False)
    pred, gt = (logits[:, 0] > 0).flatten(1), torch.cat(batch["masks"]).flatten(1)
    iou = (pred & gt).sum(1) / (pred | gt).sum(1).clamp(min=1)
    return spearman_correlation(out["hq_iou_pred"][:, 0].numpy(), iou.numpy())


def test_iou_loss_makes_the_score_rank_masks(tmp_path):
    """With untrained IoU heads (re-initialised on the bundled network), on 24 inference-like crops of
    generated scenes the score ranks the masks at chance. 100 steps of the IoU loss on those crops, heads
    only (the masks stay as they are), make the ranking clearly positive. (With weight 0 the heads get no
    gradient at all: tests/synth/test_recipe.py.)"""
    torch.set_num_threads(1)
    data = write_coco_dataset(tmp_path / "scenes", 12, seed=3, size_px=96)
    source = CocoInstances(data)
    crops = AugmentedDataset(source, range(len(source)), BoxCentredCrop(128, box_noise=0.0), seed=0)
    items = []
    for epoch in range(2):
        crops.set_epoch(epoch)
        items += [crops[i] for i in range(len(source))]
    everything = collate_samples(items)
    model = load_bundled().train()
    heads = iou_head_parameters(model)
    torch.manual_seed(0)
    for module in model.modules():  # the bundled heads are trained: start from untrained ones
        if any(p is q for p in module.parameters(recurse=False) for q in heads.values()):
            module.reset_parameters()
    model.requires_grad_(False)
    for p in heads.values():
        p.requires_grad_(True)
    groups = {
        "sam_decoder": [p for k, p in heads.items() if k.startswith("mask_decoder.")],
        "hq_decoder": [p for k, p in heads.items() if k.startswith("hq_decoder.")],
    }
    optimizer = torch.optim.AdamW(list(heads.values()), lr=1e-2)
    before = _score_iou_spearman(model, everything)
    rng = np.random.default_rng(0)
    for step in range(100):
        batch = collate_samples([items[i] for i in rng.choice(len(items), 8, replace=False)])
        training_step(
            model,
            optimizer,
            batch,
            step,
            MaskLoss("dense"),
            groups,
            torch.Tensor.backward,
            iou_loss_weight=1.0,
        )
    after = _score_iou_spearman(model, everything)
    assert everything["prompt_boxes"][0].shape[0] > 0 and len(torch.cat(everything["masks"])) >= 50
    assert before is not None and before < 0.3, before
    assert after is not None and after > 0.5 and after > before + 0.4, (before, after)
