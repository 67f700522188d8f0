"""Adapter files: ONE safetensors file with the trained parts of a network, on top of an official base.

The file holds the LoRA factors, the last encoder block, the SAM decoder and the HQ decoder, with a metadata
header (:class:`~rossam_geo.model.checkpoint.metadata.AdapterMetadata`) naming the base file (name and
SHA-256), the architecture and the LoRA sizes. A trained model = official base file + adapter.
"""

from __future__ import annotations

import re
from pathlib import Path

from rossam_geo.errors import CheckpointError, InputError
from rossam_geo.model.checkpoint.keys import (
    HQ_DECODER_PREFIX,
    MASK_DECODER_PREFIX,
    encoder_block_prefix,
    format_keys,
)
from rossam_geo.model.checkpoint.metadata import (
    ADAPTER_FORMAT,
    AdapterMetadata,
    read_metadata,
    write_with_metadata,
)
from rossam_geo.model.checkpoint.state import load_checked, model_state, read_state_dict
from rossam_geo.model.lora import is_lora_parameter_name
from rossam_geo.model.rossam import RosSam

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def adapter_keys(model: RosSam) -> list[str]:
    """State-dict keys stored in an adapter: LoRA, the last encoder block, SAM decoder, HQ decoder."""
    last_prefix = encoder_block_prefix(model.config.last_block_index)
    return [
        k
        for k in model.state_dict()
        if is_lora_parameter_name(k) or k.startswith((last_prefix, MASK_DECODER_PREFIX, HQ_DECODER_PREFIX))
    ]


def save_adapter(
    model: RosSam,
    path: str | Path,
    base_name: str,
    base_sha256: str,
    *,
    overwrite: bool = False,
) -> Path:
    """Save the trained parts of ``model`` to one safetensors file (written atomically).

    A merged model is saved as if unmerged (the base qkv weight of the last block, within float rounding).

    Args:
        model: the trained network.
        path: output ``.safetensors`` path.
        base_name: the official base weights it was trained from (registry name such as ``"sam_hq_vit_b"``,
            or a file path).
        base_sha256: lowercase hex SHA-256 of that base file (:func:`rossam_geo.io.hashing.sha256_file`).
        overwrite: replace an existing file.

    Returns:
        ``path``.

    Raises:
        InputError: a malformed SHA-256.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    if not _SHA256_RE.match(base_sha256):
        raise InputError(f"base_sha256 must be 64 lowercase hex digits, got {base_sha256!r}")
    meta = AdapterMetadata.for_model(model, ADAPTER_FORMAT, base_name, base_sha256)
    state = model_state(model, adapter_keys(model), lora_folded=False)
    return write_with_metadata(state, path, meta, overwrite)


def load_adapter(model: RosSam, path: str | Path) -> AdapterMetadata:
    """Load an adapter file into ``model`` (which already holds its base weights); LoRA left unmerged.

    Raises:
        CheckpointError: not an adapter, or made for another architecture, LoRA rank or alpha (the message
            names expected and found), or its tensors do not match.
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta.format != ADAPTER_FORMAT:
        raise CheckpointError(f"{path} is a merged export, not an adapter; load it with load_merged")
    if meta.config != model.config:
        raise CheckpointError(f"adapter {path} is for {meta.arch}, model is {model.config.name}")
    if meta.lora_rank != model.lora_rank or meta.lora_alpha != model.lora_alpha:
        raise CheckpointError(
            f"adapter {path} has LoRA rank {meta.lora_rank} alpha {meta.lora_alpha:g}, model has rank "
            f"{model.lora_rank} alpha {model.lora_alpha:g}; build the model with "
            f"lora_rank={meta.lora_rank}, lora_alpha={meta.lora_alpha:g}"
        )
    state = read_state_dict(path)
    expected = set(adapter_keys(model))
    if set(state) != expected:
        missing, unexpected = expected - set(state), set(state) - expected
        raise CheckpointError(
            f"adapter {path} does not match the model: missing {format_keys(missing) or 'none'}; "
            f"unexpected {format_keys(unexpected) or 'none'}"
        )
    model.unmerge_lora()
    load_checked(model, state, set(model.state_dict()) - expected, str(path))
    model.score_calibration = meta.calibration()
    return meta
