"""Import of checkpoint folders written by the ROS-SAM reference code (accelerate ``save_state``)."""

from __future__ import annotations

from pathlib import Path

from rossam_geo.errors import CheckpointError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint.keys import (
    HQ_DECODER_PREFIX,
    encoder_block_prefix,
    rename_prefix,
    strip_wrapper_prefixes,
)
from rossam_geo.model.checkpoint.official import inspect_state_dict
from rossam_geo.model.checkpoint.state import StateDict, load_checked, read_state_dict
from rossam_geo.model.lora import LORA_MODULE_NAMES
from rossam_geo.model.rossam import RosSam

_REFERENCE_LORA_NAMES = dict(
    zip(("linear_a_q", "linear_b_q", "linear_a_v", "linear_b_v"), LORA_MODULE_NAMES, strict=True)
)


def _map_reference_sam_key(key: str) -> str:
    """A key of the reference's LoRA-wrapped SAM as our network names it."""
    key = key.replace(".attn.qkv.qkv.", ".attn.qkv.")
    for theirs, ours in _REFERENCE_LORA_NAMES.items():
        key = key.replace(f".attn.qkv.{theirs}.", f".attn.qkv.{ours}.")
    return key


def import_reference_checkpoint(folder: str | Path) -> RosSam:
    """Import a checkpoint folder written by the ROS-SAM reference code (accelerate ``save_state``).

    The folder holds two safetensors files, told apart by content: the LoRA-wrapped SAM (usually
    ``model_1.safetensors``; keys ``image_encoder.blocks.{i}.attn.qkv.qkv.weight``,
    ``...attn.qkv.linear_{a,b}_{q,v}.weight``) and the HQ decoder's state dict (usually
    ``model.safetensors``); a ``module.`` prefix is removed. The reference adds LoRA without alpha scaling,
    so the network is built with the file's rank and ``alpha = rank`` (scale 1): outputs match the reference.

    Returns:
        The network, LoRA unmerged.

    Raises:
        CheckpointError: a file is missing or the tensors do not form a known architecture.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"reference checkpoint folder {folder} does not exist")
    files = sorted(folder.glob("model*.safetensors"))
    sam_state: StateDict | None = None
    hq_state: StateDict | None = None
    for file in files:
        state = {strip_wrapper_prefixes(k): v for k, v in read_state_dict(file).items()}
        if "image_encoder.pos_embed" in state:
            sam_state = state
        elif "hf_token.weight" in state:
            hq_state = state
    if sam_state is None or hq_state is None:
        found = ", ".join(f.name for f in files) or "no model*.safetensors files"
        raise CheckpointError(
            f"{folder} is not a ROS-SAM reference checkpoint: expected a LoRA-wrapped SAM file "
            f"(model_1.safetensors) and an HQ decoder file (model.safetensors), found {found}"
        )
    sam_state = {_map_reference_sam_key(k): v for k, v in sam_state.items()}
    info = inspect_state_dict(sam_state, str(folder))
    if info.config is None:
        raise CheckpointError(f"{folder} holds {info.describe()}; expected vit_b, vit_l or vit_h")
    rank_key = f"{encoder_block_prefix(0)}attn.qkv.{LORA_MODULE_NAMES[0]}.weight"
    rank = int(sam_state[rank_key].shape[0]) if rank_key in sam_state else 0
    model = build_rossam(info.config, lora_rank=rank, lora_alpha=float(rank))
    state = dict(sam_state)
    state.update({rename_prefix(k, "", HQ_DECODER_PREFIX): v for k, v in hq_state.items()})
    load_checked(model, state, set(), str(folder))
    return model
