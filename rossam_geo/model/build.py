"""The builder of the ROS-SAM network from a configuration (:mod:`rossam_geo.model.config`)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rossam_geo.errors import InputError
from rossam_geo.model.config import DEFAULT_LORA_ALPHA, DEFAULT_LORA_RANK, RosSamConfig, get_config

if TYPE_CHECKING:
    from rossam_geo.model.rossam import RosSam


def build_rossam(
    config: RosSamConfig | str = "vit_b",
    *,
    lora_rank: int = DEFAULT_LORA_RANK,
    lora_alpha: float = DEFAULT_LORA_ALPHA,
    gradient_checkpointing: bool = False,
) -> RosSam:
    """Build a randomly initialised ROS-SAM network.

    With the default initialisation (LoRA B matrices zero), ``mode="sam"`` predictions equal those of a
    ``segment_anything`` ``Sam`` holding the same base weights. Build under ``with torch.device("meta"):``
    to inspect the large sizes without allocating memory.

    Args:
        config: a :class:`RosSamConfig` or a registry name (``"vit_b"``, ``"vit_l"``, ``"vit_h"``,
            ``"tiny"``).
        lora_rank: LoRA rank on the q and v projections of every encoder block; 0 builds no LoRA (plain SAM
            encoder, as used by the ``sam`` and ``hq-sam`` engines).
        lora_alpha: LoRA scale numerator; the update is ``alpha / rank * B(A(x))``.
        gradient_checkpointing: recompute encoder blocks in the backward pass to save memory.

    Returns:
        The network in eval mode, on the current default device.

    Raises:
        InputError: unknown configuration name or a negative rank.
    """
    import torch
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    from rossam_geo.model.hq_decoder import HQMaskDecoder
    from rossam_geo.model.image_encoder import RosSamImageEncoder
    from rossam_geo.model.lora import add_lora
    from rossam_geo.model.rossam import RosSam

    cfg = get_config(config)
    if lora_rank < 0:
        raise InputError(f"lora_rank must be >= 0, got {lora_rank}")

    def transformer() -> TwoWayTransformer:
        return TwoWayTransformer(
            depth=cfg.decoder_depth,
            embedding_dim=cfg.prompt_embed_dim,
            mlp_dim=cfg.decoder_mlp_dim,
            num_heads=cfg.decoder_num_heads,
        )

    image_encoder = RosSamImageEncoder(
        depth=cfg.encoder_depth,
        embed_dim=cfg.encoder_embed_dim,
        img_size=cfg.image_size_px,
        mlp_ratio=cfg.encoder_mlp_ratio,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=cfg.encoder_num_heads,
        patch_size=cfg.patch_size_px,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=cfg.encoder_global_attn_indexes,
        window_size=cfg.encoder_window_size,
        out_chans=cfg.prompt_embed_dim,
    )
    image_encoder.gradient_checkpointing = gradient_checkpointing
    grid = cfg.image_embedding_size
    prompt_encoder = PromptEncoder(
        embed_dim=cfg.prompt_embed_dim,
        image_embedding_size=(grid, grid),
        input_image_size=(cfg.image_size_px, cfg.image_size_px),
        mask_in_chans=cfg.mask_in_chans,
    )
    decoder_kwargs = dict(
        num_multimask_outputs=cfg.num_multimask_outputs,
        transformer_dim=cfg.prompt_embed_dim,
        iou_head_depth=3,
        iou_head_hidden_dim=cfg.iou_head_hidden_dim,
    )
    mask_decoder = MaskDecoder(transformer=transformer(), **decoder_kwargs)  # type: ignore[arg-type]
    hq_decoder = HQMaskDecoder(
        transformer=transformer(),
        vit_dim=cfg.encoder_embed_dim,
        **decoder_kwargs,  # type: ignore[arg-type]
    )
    if lora_rank > 0:
        add_lora(image_encoder, rank=lora_rank, alpha=lora_alpha)
    model = RosSam(
        config=cfg,
        image_encoder=image_encoder,
        prompt_encoder=prompt_encoder,
        mask_decoder=mask_decoder,
        hq_decoder=hq_decoder,
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
    )
    model.eval()
    return model
