"""Configurations of the ROS-SAM network and the builder.

The registry holds the three official SAM image-encoder sizes (``vit_b``, ``vit_l``, ``vit_h``) and a tiny
configuration for tests that runs a forward pass in milliseconds on a CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from rossam_geo.errors import InputError

if TYPE_CHECKING:
    from rossam_geo.model.rossam import RosSam

#: SAM's normalisation constants, RGB on the 0-255 scale.
PIXEL_MEAN_RGB: tuple[float, float, float] = (123.675, 116.28, 103.53)
PIXEL_STD_RGB: tuple[float, float, float] = (58.395, 57.12, 57.375)

#: Default LoRA rank and alpha (see :mod:`rossam_geo.model.lora` for the reasoning).
DEFAULT_LORA_RANK = 16
DEFAULT_LORA_ALPHA = 16.0


@dataclass(frozen=True)
class RosSamConfig:
    """All sizes of one ROS-SAM network.

    Attributes:
        name: registry name (``"vit_b"``...), recorded in checkpoints.
        image_size_px: side of the square model input in pixels.
        patch_size_px: side of one ViT patch in pixels.
        encoder_embed_dim: ViT token width (768 / 1024 / 1280 for b / l / h).
        encoder_depth: number of ViT blocks.
        encoder_num_heads: attention heads per ViT block.
        encoder_global_attn_indexes: blocks with global attention; the others attend in windows.
        encoder_window_size: side of the attention windows, in patches.
        encoder_mlp_ratio: ViT MLP hidden width over the token width.
        prompt_embed_dim: width of the image embedding, prompt tokens and decoder transformer.
        decoder_depth: two-way transformer layers in each mask decoder.
        decoder_mlp_dim: hidden width of the decoder transformer's MLPs.
        decoder_num_heads: attention heads in the decoder transformer.
        iou_head_hidden_dim: hidden width of the IoU prediction head.
        num_multimask_outputs: SAM's ambiguity-aware masks (the decoder has one more mask token).
        mask_in_chans: hidden channels of the prompt encoder's mask-input branch.
    """

    name: str
    image_size_px: int = 1024
    patch_size_px: int = 16
    encoder_embed_dim: int = 768
    encoder_depth: int = 12
    encoder_num_heads: int = 12
    encoder_global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    encoder_window_size: int = 14
    encoder_mlp_ratio: float = 4.0
    prompt_embed_dim: int = 256
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3
    mask_in_chans: int = 16

    def __post_init__(self) -> None:
        if self.image_size_px % self.patch_size_px:
            raise InputError(
                f"image_size_px {self.image_size_px} is not a multiple of patch_size_px {self.patch_size_px}"
            )
        bad = [i for i in self.encoder_global_attn_indexes if not 0 <= i < self.encoder_depth]
        if not self.encoder_global_attn_indexes or bad:
            raise InputError(
                f"encoder_global_attn_indexes {self.encoder_global_attn_indexes} must name at least one "
                f"block in 0..{self.encoder_depth - 1}: the HQ decoder fuses the first global block's output"
            )

    @property
    def image_embedding_size(self) -> int:
        """Side of the image embedding grid, in patches (64 for the official sizes)."""
        return self.image_size_px // self.patch_size_px

    @property
    def low_res_mask_size_px(self) -> int:
        """Side of the decoders' mask logits in pixels: 4x the embedding grid (256 for official sizes)."""
        return 4 * self.image_embedding_size

    @property
    def last_block_index(self) -> int:
        """Index of the last ViT block (11 / 23 / 31 for b / l / h), unfrozen for training."""
        return self.encoder_depth - 1

    @property
    def first_global_block_index(self) -> int:
        """Index of the first global-attention block, whose output feeds the HQ decoder."""
        return min(self.encoder_global_attn_indexes)

    def to_dict(self) -> dict[str, object]:
        """The configuration as JSON-compatible values."""
        values = dataclasses.asdict(self)
        values["encoder_global_attn_indexes"] = list(self.encoder_global_attn_indexes)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> RosSamConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            InputError: unknown or missing fields.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown RosSamConfig fields {unknown}; expected a subset of {sorted(known)}")
        values = dict(values)
        if "encoder_global_attn_indexes" in values:
            values["encoder_global_attn_indexes"] = tuple(values["encoder_global_attn_indexes"])  # type: ignore[arg-type]
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InputError(f"incomplete RosSamConfig {values}: {exc}") from None


CONFIGS: dict[str, RosSamConfig] = {
    "vit_b": RosSamConfig(
        name="vit_b",
        encoder_embed_dim=768,
        encoder_depth=12,
        encoder_num_heads=12,
        encoder_global_attn_indexes=(2, 5, 8, 11),
    ),
    "vit_l": RosSamConfig(
        name="vit_l",
        encoder_embed_dim=1024,
        encoder_depth=24,
        encoder_num_heads=16,
        encoder_global_attn_indexes=(5, 11, 17, 23),
    ),
    "vit_h": RosSamConfig(
        name="vit_h",
        encoder_embed_dim=1280,
        encoder_depth=32,
        encoder_num_heads=16,
        encoder_global_attn_indexes=(7, 15, 23, 31),
    ),
    # Tests only: 128 px input, 8x8 embedding grid, 32x32 mask logits.
    "tiny": RosSamConfig(
        name="tiny",
        image_size_px=128,
        patch_size_px=16,
        encoder_embed_dim=32,
        encoder_depth=4,
        encoder_num_heads=2,
        encoder_global_attn_indexes=(1, 3),
        encoder_window_size=4,
        encoder_mlp_ratio=2.0,
        prompt_embed_dim=32,
        decoder_depth=2,
        decoder_mlp_dim=64,
        decoder_num_heads=2,
        iou_head_hidden_dim=32,
        mask_in_chans=8,
    ),
    # Tests only: a second tiny architecture (wider, deeper) to exercise architecture checks.
    "tiny_wide": RosSamConfig(
        name="tiny_wide",
        image_size_px=128,
        patch_size_px=16,
        encoder_embed_dim=48,
        encoder_depth=6,
        encoder_num_heads=2,
        encoder_global_attn_indexes=(2, 5),
        encoder_window_size=4,
        encoder_mlp_ratio=2.0,
        prompt_embed_dim=32,
        decoder_depth=2,
        decoder_mlp_dim=64,
        decoder_num_heads=2,
        iou_head_hidden_dim=32,
        mask_in_chans=8,
    ),
}


def get_config(config: RosSamConfig | str) -> RosSamConfig:
    """Return ``config`` itself, or the registered configuration of that name.

    Raises:
        InputError: the name is not registered.
    """
    if isinstance(config, RosSamConfig):
        return config
    try:
        return CONFIGS[config]
    except KeyError:
        raise InputError(
            f"unknown model configuration {config!r}; choose one of: {', '.join(CONFIGS)}"
        ) from None


def find_config(encoder_embed_dim: int, encoder_depth: int, image_size_px: int) -> RosSamConfig | None:
    """The registered configuration with these encoder sizes, or ``None``."""
    for cfg in CONFIGS.values():
        if (cfg.encoder_embed_dim, cfg.encoder_depth, cfg.image_size_px) == (
            encoder_embed_dim,
            encoder_depth,
            image_size_px,
        ):
            return cfg
    return None


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
