"""SAM's decoder on one prompt per image, the whole batch in one pass, equals SAM's own decoder per image."""

from __future__ import annotations

import pytest
import torch

from rossam_geo.errors import InputError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.sam_decoder import decode_paired
from tests.model.conftest import perturb_


def test_paired_decoding_equals_one_image_a_pass():
    torch.manual_seed(0)
    model = perturb_(build_rossam("tiny", lora_rank=0), seed=3, std=0.2, only="mask_decoder").eval()
    generator = torch.Generator().manual_seed(4)
    embeddings = torch.randn(3, 32, 8, 8, generator=generator)
    boxes = torch.tensor([[10.0, 10, 60, 50], [40, 60, 90, 120], [0, 0, 127, 127]])
    image_pe = model.prompt_encoder.get_dense_pe()
    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(points=None, boxes=boxes, masks=None)
        masks, iou = decode_paired(model.mask_decoder, embeddings, image_pe, sparse, dense)
        for i in range(3):
            expected_masks, expected_iou = model.mask_decoder(
                image_embeddings=embeddings[i : i + 1],
                image_pe=image_pe,
                sparse_prompt_embeddings=sparse[i : i + 1],
                dense_prompt_embeddings=dense[i : i + 1],
                multimask_output=False,
            )
            assert (masks[i : i + 1] - expected_masks).abs().max().item() <= 1e-5
            assert (iou[i : i + 1] - expected_iou).abs().max().item() <= 1e-6
        # one image shared by all prompts, as SAM pairs them
        shared, _ = decode_paired(model.mask_decoder, embeddings[:1], image_pe, sparse, dense)
        expected_shared, _ = model.mask_decoder(
            embeddings[:1], image_pe, sparse, dense, multimask_output=False
        )
    assert (shared - expected_shared).abs().max().item() <= 1e-5


def test_paired_decoding_refuses_mismatched_counts():
    model = build_rossam("tiny", lora_rank=0).eval()
    sparse = torch.zeros(3, 2, 32)
    dense = torch.zeros(3, 32, 8, 8)
    with pytest.raises(InputError, match="3 prompts on 2 images; give one image, or one image per prompt"):
        decode_paired(model.mask_decoder, torch.zeros(2, 32, 8, 8), torch.zeros(1, 32, 8, 8), sparse, dense)
