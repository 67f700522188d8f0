"""SAM's mask decoder for one prompt per image: the whole batch in one decoder pass.

``segment_anything``'s ``MaskDecoder.predict_masks`` pairs one image with all of its prompts: it repeats the
image embedding once per prompt, so a batch of B images with one box each would need B passes (or B * B
pairs). :func:`decode_paired` runs the same computation, with the same parameters, on prompt i of image i
for all i at once.
"""

from __future__ import annotations

import torch
from segment_anything.modeling import MaskDecoder

from rossam_geo.errors import InputError


def decode_paired(
    decoder: MaskDecoder,
    image_embeddings: torch.Tensor,
    image_pe: torch.Tensor,
    sparse_prompt_embeddings: torch.Tensor,
    dense_prompt_embeddings: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM's single-mask output for prompt i on image i.

    Args:
        decoder: SAM's mask decoder.
        image_embeddings: (N, C, h, w) image embeddings, or (1, C, h, w) shared by every prompt.
        image_pe: (1, C, h, w) dense positional encoding.
        sparse_prompt_embeddings: (N, T, C) prompt tokens.
        dense_prompt_embeddings: (N, C, h, w) dense prompt embeddings.

    Returns:
        ``(mask_logits, iou_pred)``: (N, 1, 4h, 4w) logits of SAM's first mask token and (N, 1) its
        predicted IoU, as ``decoder(..., multimask_output=False)`` gives them.

    Raises:
        InputError: neither one image nor one image per prompt.
    """
    n_prompts = sparse_prompt_embeddings.shape[0]
    n_images = image_embeddings.shape[0]
    if n_images not in (1, n_prompts):
        raise InputError(f"{n_prompts} prompts on {n_images} images; give one image, or one image per prompt")
    output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = torch.cat(
        [output_tokens.unsqueeze(0).expand(n_prompts, -1, -1), sparse_prompt_embeddings], dim=1
    )
    src = image_embeddings.expand(n_prompts, -1, -1, -1) + dense_prompt_embeddings
    pos_src = image_pe.expand(n_prompts, -1, -1, -1)
    batch, channels, height, width = src.shape
    hs, src = decoder.transformer(src, pos_src, tokens)
    iou_token_out = hs[:, 0, :]
    first_mask_token = hs[:, 1, :]  # single-mask output: the first of the mask tokens
    upscaled = decoder.output_upscaling(src.transpose(1, 2).reshape(batch, channels, height, width))
    _, c_up, h_up, w_up = upscaled.shape
    hyper = decoder.output_hypernetworks_mlps[0](first_mask_token).unsqueeze(1)  # (N, 1, c_up)
    masks = (hyper @ upscaled.reshape(batch, c_up, h_up * w_up)).reshape(batch, 1, h_up, w_up)
    iou_pred = decoder.iou_prediction_head(iou_token_out)[:, :1]
    return masks, iou_pred
