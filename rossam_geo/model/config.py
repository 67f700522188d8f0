"""Configurations of the ROS-SAM network: the registry of sizes and the constants every part shares.

The registry holds the three official SAM image-encoder sizes (``vit_b``, ``vit_l``, ``vit_h``) and tiny
configurations for tests that run a forward pass in milliseconds on a CPU. Nothing here imports torch, so the
network (:mod:`rossam_geo.model.rossam`) and its builder (:mod:`rossam_geo.model.build`) both import it
without importing each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rossam_geo.errors import InputError

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
