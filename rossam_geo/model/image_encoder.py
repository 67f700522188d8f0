"""SAM's ViT image encoder, also returning the early features that the HQ decoder fuses."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from segment_anything.modeling import ImageEncoderViT
from torch.utils.checkpoint import checkpoint

from rossam_geo.errors import EngineError


class RosSamImageEncoder(ImageEncoderViT):
    """``segment_anything``'s ``ImageEncoderViT`` whose forward also returns the first global block's output.

    Parameters and state-dict keys are exactly SAM's. Set ``gradient_checkpointing = True`` to recompute
    each block in the backward pass (less memory for vit_l / vit_h training, about a third more compute).
    """

    gradient_checkpointing: bool = False

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, runners: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode normalised images.

        Args:
            x: (B, 3, S, S) normalised images, S = the configured image size.
            runners: one callable per block that runs it (compiled versions of the blocks, sharing their
                parameters); None: the blocks themselves.

        Returns:
            ``(image_embeddings, interm_embeddings)``: (B, C, S/16, S/16) neck output (C = prompt embed
            dim) and (B, S/16, S/16, D) output of the first global-attention block (D = ViT width).
        """
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        interm: torch.Tensor | None = None
        use_checkpoint = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks):
            if use_checkpoint:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x) if runners is None else runners[index](x)
            if interm is None and block.window_size == 0:
                interm = x
        if interm is None:
            raise EngineError("the image encoder has no global-attention block; the HQ decoder needs one")
        embeddings = self.neck(x.permute(0, 3, 1, 2))
        return embeddings, interm
