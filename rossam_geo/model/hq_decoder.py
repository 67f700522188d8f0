"""The HQ mask decoder: SAM's mask decoder plus HQ-SAM's high-quality output token and feature fusion.

Parameter names and shapes are those of ``segment_anything_hq``'s ``MaskDecoderHQ``, so the
``mask_decoder.*`` part of an official HQ-SAM checkpoint loads strictly into :class:`HQMaskDecoder`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from segment_anything.modeling import MaskDecoder
from segment_anything.modeling.common import LayerNorm2d
from segment_anything.modeling.mask_decoder import MLP
from torch import nn

from rossam_geo.errors import InputError


class HQDecoderOutput(NamedTuple):
    """Outputs of :meth:`HQMaskDecoder.forward` for N prompts of one image.

    Attributes:
        sam_mask_logits: (N, K, 4h, 4w) masks of the SAM output tokens (K = 1, or 3 with multimask output).
        iou_pred: (N, K) predicted IoU of those masks.
        hq_mask_logits: (N, 1, 4h, 4w) mask of the HQ output token.
    """

    sam_mask_logits: torch.Tensor
    iou_pred: torch.Tensor
    hq_mask_logits: torch.Tensor

    def combined(self, hq_token_only: bool) -> torch.Tensor:
        """HQ-SAM's single-mask output: the HQ mask alone, or SAM mask + HQ mask logits. (N, 1, 4h, 4w)."""
        if hq_token_only:
            return self.hq_mask_logits
        return self.sam_mask_logits[:, :1] + self.hq_mask_logits


class HQMaskDecoder(MaskDecoder):
    """SAM's ``MaskDecoder`` extended with HQ-SAM's parts.

    Added modules (HQ-SAM's names): ``hf_token`` (the HQ output token), ``hf_mlp`` (its hypernetwork MLP),
    ``compress_vit_feat`` (early ViT features, (h, w) -> (4h, 4w)), ``embedding_encoder`` (image embedding,
    (h, w) -> (4h, 4w)) and ``embedding_maskfeature`` (refines SAM's upscaled mask features).
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        vit_dim: int,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        """Build the decoder.

        Args:
            transformer_dim: width of tokens and image embedding (256 for the official sizes).
            transformer: the two-way transformer.
            vit_dim: width of the image encoder's ViT tokens (768 / 1024 / 1280).
            num_multimask_outputs: SAM's ambiguity-aware masks.
            activation: activation in SAM's upscaling path.
            iou_head_depth: layers of the IoU head.
            iou_head_hidden_dim: hidden width of the IoU head.
        """
        super().__init__(
            transformer_dim=transformer_dim,
            transformer=transformer,
            num_multimask_outputs=num_multimask_outputs,
            activation=activation,
            iou_head_depth=iou_head_depth,
            iou_head_hidden_dim=iou_head_hidden_dim,
        )
        quarter, eighth = transformer_dim // 4, transformer_dim // 8
        self.hf_token = nn.Embedding(1, transformer_dim)
        self.hf_mlp = MLP(transformer_dim, transformer_dim, eighth, 3)
        self.compress_vit_feat = nn.Sequential(
            nn.ConvTranspose2d(vit_dim, transformer_dim, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim, eighth, kernel_size=2, stride=2),
        )
        self.embedding_encoder = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, quarter, kernel_size=2, stride=2),
            LayerNorm2d(quarter),
            nn.GELU(),
            nn.ConvTranspose2d(quarter, eighth, kernel_size=2, stride=2),
        )
        self.embedding_maskfeature = nn.Sequential(
            nn.Conv2d(eighth, quarter, kernel_size=3, stride=1, padding=1),
            LayerNorm2d(quarter),
            nn.GELU(),
            nn.Conv2d(quarter, eighth, kernel_size=3, stride=1, padding=1),
        )

    def hq_features(self, image_embeddings: torch.Tensor, interm_embeddings: torch.Tensor) -> torch.Tensor:
        """Fuse the final and early encoder features.

        Args:
            image_embeddings: (B, C, h, w) neck output.
            interm_embeddings: (B, h, w, D) first global-attention block output.

        Returns:
            (B, C/8, 4h, 4w) HQ features.
        """
        early = self.compress_vit_feat(interm_embeddings.permute(0, 3, 1, 2))
        return self.embedding_encoder(image_embeddings) + early

    def forward(  # type: ignore[override]
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        interm_embeddings: torch.Tensor,
        multimask_output: bool = False,
    ) -> HQDecoderOutput:
        """Decode N prompts of one image, or one prompt of each of N images.

        Args:
            image_embeddings: (1, C, h, w) embedding of one image, or (N, C, h, w): prompt i on image i.
            image_pe: (1, C, h, w) dense positional encoding.
            sparse_prompt_embeddings: (N, T, C) prompt tokens.
            dense_prompt_embeddings: (N, C, h, w) dense prompt embeddings.
            interm_embeddings: (1 or N, h, w, D) first global-attention block output of the same image(s).
            multimask_output: return SAM's three ambiguity masks instead of its single mask.

        Returns:
            The SAM-token masks and IoU and the HQ-token mask.
        """
        hq_features = self.hq_features(image_embeddings, interm_embeddings)
        sam_masks, iou_pred, hq_masks = self.predict_masks_hq(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, hq_features
        )
        selected = slice(1, None) if multimask_output else slice(0, 1)
        return HQDecoderOutput(sam_masks[:, selected], iou_pred[:, selected], hq_masks)

    def predict_masks_hq(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        hq_features: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the transformer with the IoU, mask and HQ tokens and predict all masks.

        Args:
            image_embeddings: (1, C, h, w) for N prompts of one image, or (N, C, h, w) for one prompt per
                image.
            image_pe: (1, C, h, w).
            sparse_prompt_embeddings: (N, T, C).
            dense_prompt_embeddings: (N, C, h, w).
            hq_features: (1 or N, C/8, 4h, 4w) from :meth:`hq_features`, one per image.

        Returns:
            SAM-token masks (N, 4, 4h, 4w), their IoU predictions (N, 4), HQ-token masks (N, 1, 4h, 4w).

        Raises:
            InputError: neither one image nor one image per prompt.
        """
        n_prompts = sparse_prompt_embeddings.shape[0]
        n_images = image_embeddings.shape[0]
        if n_images not in (1, n_prompts):
            raise InputError(
                f"{n_prompts} prompts on {n_images} images; give one image, or one image per prompt"
            )
        output_tokens = torch.cat(
            [self.iou_token.weight, self.mask_tokens.weight, self.hf_token.weight], dim=0
        )
        tokens = torch.cat(
            [output_tokens.unsqueeze(0).expand(n_prompts, -1, -1), sparse_prompt_embeddings], dim=1
        )
        src = (
            torch.repeat_interleave(image_embeddings, n_prompts // n_images, dim=0) + dense_prompt_embeddings
        )
        pos_src = torch.repeat_interleave(image_pe, n_prompts, dim=0)
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]
        hq_token_out = hs[:, 1 + self.num_mask_tokens, :]

        upscaled_sam = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        upscaled_hq = self.embedding_maskfeature(upscaled_sam) + hq_features
        _, c_up, h_up, w_up = upscaled_sam.shape

        hyper_sam = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        hyper_hq = self.hf_mlp(hq_token_out).unsqueeze(1)
        sam_masks = (hyper_sam @ upscaled_sam.reshape(b, c_up, h_up * w_up)).reshape(b, -1, h_up, w_up)
        hq_masks = (hyper_hq @ upscaled_hq.reshape(b, c_up, h_up * w_up)).reshape(b, 1, h_up, w_up)
        iou_pred = self.iou_prediction_head(iou_token_out)
        return sam_masks, iou_pred, hq_masks
