"""State-dict key names shared by the checkpoint formats: part prefixes, wrapper prefixes, encoder blocks."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Prefixes of the parts an official SAM file holds (image encoder, prompt encoder, SAM mask decoder).
SAM_PART_PREFIXES = ("image_encoder.", "prompt_encoder.", "mask_decoder.")
MASK_DECODER_PREFIX = "mask_decoder."
HQ_DECODER_PREFIX = "hq_decoder."
#: Prefixes added by wrappers around a saved network (``DistributedDataParallel``, ``torch.compile``).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

_ENCODER_BLOCK_RE = re.compile(r"^image_encoder\.blocks\.(\d+)\.")


def encoder_block_prefix(index: int) -> str:
    """Key prefix of image-encoder block ``index``, e.g. ``"image_encoder.blocks.11."``."""
    return f"image_encoder.blocks.{index}."


def encoder_block_indices(keys: Iterable[str]) -> set[int]:
    """Indices of the image-encoder blocks that ``keys`` name (``image_encoder.blocks.{i}.*``)."""
    return {int(m.group(1)) for k in keys if (m := _ENCODER_BLOCK_RE.match(k))}


def rename_prefix(key: str, old: str, new: str) -> str:
    """``key`` with its leading ``old`` replaced by ``new`` (``old=""`` adds ``new``); others unchanged."""
    return new + key[len(old) :] if key.startswith(old) else key


def strip_wrapper_prefixes(key: str) -> str:
    """``key`` without any leading ``module.`` / ``_orig_mod.`` (repeated, in any order)."""
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def format_keys(keys: Iterable[str], limit: int = 6) -> str:
    """Sorted ``keys`` joined by commas for a message; past ``limit`` the rest is counted ("(+3 more)")."""
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown
