from __future__ import annotations

import pytest
import torch
from segment_anything.modeling import TwoWayTransformer
from segment_anything_hq.modeling.mask_decoder_hq import MaskDecoderHQ

from rossam_geo.model.hq_decoder import HQMaskDecoder

from .conftest import perturb_

DIM, VIT_DIM, GRID = 32, 48, 8


def _transformer():
    return TwoWayTransformer(depth=2, embedding_dim=DIM, mlp_dim=64, num_heads=2)


@pytest.fixture
def decoders() -> tuple[MaskDecoderHQ, HQMaskDecoder]:
    torch.manual_seed(0)
    reference = MaskDecoderHQ(
        transformer_dim=DIM, transformer=_transformer(), iou_head_hidden_dim=32, vit_dim=VIT_DIM
    )
    perturb_(reference, seed=5, std=0.1)
    ours = HQMaskDecoder(
        transformer_dim=DIM, transformer=_transformer(), iou_head_hidden_dim=32, vit_dim=VIT_DIM
    )
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference.eval(), ours.eval()


@pytest.fixture
def inputs() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    n_prompts = 3
    return {
        "image_embeddings": torch.randn(1, DIM, GRID, GRID, generator=gen),
        "image_pe": torch.randn(1, DIM, GRID, GRID, generator=gen),
        "sparse_prompt_embeddings": torch.randn(n_prompts, 2, DIM, generator=gen),
        "dense_prompt_embeddings": torch.randn(n_prompts, DIM, GRID, GRID, generator=gen),
        "interm": torch.randn(1, GRID, GRID, VIT_DIM, generator=gen),
    }


def test_state_dict_structure_equals_hq_sam(decoders):
    reference, ours = decoders
    ref_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    our_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert our_shapes == ref_shapes
    hq_only = {
        k
        for k in ref_shapes
        if k.split(".")[0]
        in {"hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature"}
    }
    assert len(hq_only) == 25


@pytest.mark.parametrize("hq_token_only", [True, False])
def test_single_mask_output_equals_hq_sam(decoders, inputs, hq_token_only):
    reference, ours = decoders
    interm = inputs.pop("interm")
    with torch.no_grad():
        ref_masks, ref_iou = reference(
            **inputs,
            multimask_output=False,
            hq_token_only=hq_token_only,
            interm_embeddings=interm.unsqueeze(0),
        )
        out = ours(**inputs, interm_embeddings=interm)
    assert out.hq_mask_logits.shape == (3, 1, 4 * GRID, 4 * GRID)
    assert (out.combined(hq_token_only) - ref_masks).abs().max() <= 1e-5
    assert (out.iou_pred - ref_iou).abs().max() <= 1e-5
    # the SAM part differs from the HQ part, so the two modes really are different outputs
    assert (out.sam_mask_logits - out.hq_mask_logits).abs().max() > 1e-3


def test_multimask_output_gives_sams_three_masks(decoders, inputs):
    reference, ours = decoders
    interm = inputs.pop("interm")
    with torch.no_grad():
        ref_masks, ref_iou = reference(
            **inputs, multimask_output=True, hq_token_only=False, interm_embeddings=interm.unsqueeze(0)
        )
        out = ours(**inputs, interm_embeddings=interm, multimask_output=True)
    assert out.sam_mask_logits.shape == (3, 3, 4 * GRID, 4 * GRID) and out.iou_pred.shape == (3, 3)
    # HQ-SAM keeps the best of the three by predicted IoU and adds the HQ mask
    best = out.iou_pred.argmax(dim=1)
    chosen = out.sam_mask_logits[torch.arange(3), best].unsqueeze(1)
    assert (chosen + out.hq_mask_logits - ref_masks).abs().max() <= 1e-5
    assert (out.iou_pred.max(dim=1).values[:, None] - ref_iou).abs().max() <= 1e-6
