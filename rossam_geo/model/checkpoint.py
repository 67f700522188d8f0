"""Checkpoint files: official SAM / HQ-SAM weights, our adapter file, merged exports, reference-code folders.

* Official files (``sam_vit_{b,l,h}_*.pth``: 314 / 482 / 594 keys; ``sam_hq_vit_{b,l,h}.pth``: 339 / 507 /
  619 keys) are plain state dicts read with ``torch.load(..., map_location="cpu", weights_only=True)`` and
  loaded strictly: the only model keys they do not fill are the LoRA factors (and the HQ decoder, for a SAM
  file). An HQ-SAM file fills SAM's decoder with its SAM part and the HQ decoder with all of it.
* An adapter is ONE safetensors file holding the trained parts (LoRA, last encoder block, SAM decoder, HQ
  decoder) with a metadata header naming the base file (name and SHA-256), the architecture and LoRA sizes.
  A trained model = official base file + adapter.
* A merged export is one safetensors file with the whole network, LoRA folded into the weights.
* A ROS-SAM reference-code folder (accelerate ``save_state``) can be imported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from rossam_geo.atomic import atomic_path
from rossam_geo.errors import CheckpointError, InputError, OutputExistsError
from rossam_geo.model.build import (
    DEFAULT_LORA_ALPHA,
    DEFAULT_LORA_RANK,
    RosSamConfig,
    build_rossam,
    find_config,
)
from rossam_geo.model.lora import LORA_MODULE_NAMES, LoRAQKVLinear, is_lora_parameter_name
from rossam_geo.model.rossam import RosSam

ADAPTER_FORMAT = "rossam-geo-adapter"
MERGED_FORMAT = "rossam-geo-merged"
FORMAT_VERSION = "1"

Family = Literal["sam", "hq-sam"]
FileFormat = Literal["official", "adapter", "merged", "reference"]
StateDict = dict[str, torch.Tensor]

_FAMILY_LABEL = {"sam": "SAM", "hq-sam": "HQ-SAM"}
_BLOCK_RE = re.compile(r"^image_encoder\.blocks\.(\d+)\.")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# ------------------------------------------------------------------------------------------ reading files
def read_state_dict(path: str | Path) -> StateDict:
    """Read a checkpoint file into a flat ``{key: tensor}`` dict on the CPU.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(path, map_location="cpu", weights_only=True)``. A ``{"model": ...}`` or
    ``{"state_dict": ...}`` wrapper is unwrapped.

    Raises:
        CheckpointError: missing file, unreadable file, or not a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:
            raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint that loads with weights_only=True ({type(exc).__name__}); "
            "give an official SAM / HQ-SAM .pth file or a rossam-geo .safetensors file"
        ) from None
    if isinstance(loaded, Mapping):
        for wrapper in ("model", "state_dict"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


def _safetensors_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None


def file_format(path: str | Path) -> FileFormat:
    """Tell what a weights path holds.

    Returns:
        ``"reference"`` for a folder (reference-code ``save_state`` output), ``"adapter"`` or ``"merged"``
        for our safetensors files (from their metadata), ``"official"`` for anything else (read as a
        SAM / HQ-SAM state dict).

    Raises:
        CheckpointError: the path does not exist.
    """
    path = Path(path)
    if path.is_dir():
        return "reference"
    if not path.is_file():
        raise CheckpointError(f"weights path {path} does not exist")
    if path.suffix == ".safetensors":
        fmt = _safetensors_metadata(path).get("format")
        if fmt == ADAPTER_FORMAT:
            return "adapter"
        if fmt == MERGED_FORMAT:
            return "merged"
    return "official"


# -------------------------------------------------------------------------------------- official files
@dataclass(frozen=True)
class CheckpointInfo:
    """Architecture of a SAM-family state dict, read from its tensors.

    Attributes:
        family: ``"sam"`` or ``"hq-sam"`` (has ``mask_decoder.hf_token.weight``).
        encoder_embed_dim: ViT width, from ``image_encoder.pos_embed``.
        encoder_depth: number of ViT blocks.
        image_size_px: model input side, from the positional embedding grid and patch size.
        config: the matching registered configuration, or ``None``.
    """

    family: Family
    encoder_embed_dim: int
    encoder_depth: int
    image_size_px: int
    config: RosSamConfig | None

    @property
    def arch(self) -> str:
        """Registered name (``"vit_b"``...) or a description of an unknown architecture."""
        if self.config is not None:
            return self.config.name
        return f"an unknown architecture (embed dim {self.encoder_embed_dim}, depth {self.encoder_depth})"

    def describe(self) -> str:
        """For example ``"vit_l (SAM)"``."""
        return f"{self.arch} ({_FAMILY_LABEL[self.family]})"


def inspect_state_dict(state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> CheckpointInfo:
    """Detect the architecture and family of a SAM / HQ-SAM state dict.

    Raises:
        CheckpointError: not a SAM-family state dict.
    """
    pos_embed = state_dict.get("image_encoder.pos_embed")
    patch = state_dict.get("image_encoder.patch_embed.proj.weight")
    if pos_embed is None or patch is None or pos_embed.ndim != 4:
        sample = ", ".join(list(state_dict)[:5]) or "none"
        raise CheckpointError(
            f"{source} is not a SAM or HQ-SAM checkpoint: it has no image_encoder.pos_embed / patch_embed "
            f"(first keys: {sample})"
        )
    blocks = {int(m.group(1)) for k in state_dict if (m := _BLOCK_RE.match(k))}
    embed_dim = int(pos_embed.shape[-1])
    image_size = int(pos_embed.shape[1]) * int(patch.shape[-1])
    family: Family = "hq-sam" if "mask_decoder.hf_token.weight" in state_dict else "sam"
    return CheckpointInfo(
        family=family,
        encoder_embed_dim=embed_dim,
        encoder_depth=len(blocks),
        image_size_px=image_size,
        config=find_config(embed_dim, len(blocks), image_size),
    )


def official_keys(model: RosSam) -> set[str]:
    """Model keys that an official SAM checkpoint provides (all but LoRA and the HQ decoder)."""
    return {
        k
        for k in model.state_dict()
        if k.startswith(("image_encoder.", "prompt_encoder.", "mask_decoder."))
        and not is_lora_parameter_name(k)
    }


def _same_architecture(info: CheckpointInfo, config: RosSamConfig) -> bool:
    return (info.encoder_embed_dim, info.encoder_depth, info.image_size_px) == (
        config.encoder_embed_dim,
        config.encoder_depth,
        config.image_size_px,
    )


def _format_keys(keys: Iterable[str], limit: int = 6) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown


def _load_checked(
    model: nn.Module, state: Mapping[str, torch.Tensor], allowed_missing: set[str], source: str
) -> None:
    """Load ``state``; each model key must be in ``state`` or ``allowed_missing``, and no other key."""
    model_keys = set(model.state_dict())
    unexpected = set(state) - model_keys
    missing = model_keys - set(state) - allowed_missing
    if unexpected or missing:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys: {_format_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys: {_format_keys(unexpected)}")
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(parts))
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{source} has tensors of the wrong shape for the model: {exc}") from None
    if set(result.missing_keys) - allowed_missing or result.unexpected_keys:
        raise CheckpointError(f"{source}: unexpected key mismatch {result}")


def load_official(
    source: str | Path | Mapping[str, torch.Tensor],
    model: RosSam | None = None,
    *,
    lora_rank: int = DEFAULT_LORA_RANK,
    lora_alpha: float = DEFAULT_LORA_ALPHA,
) -> RosSam:
    """Load an official SAM or HQ-SAM checkpoint (file or state dict) into a ROS-SAM network.

    The load is strict over the official keys: the model keys left unfilled are exactly the LoRA factors
    (kept at their initial values, so the update is zero) and, for a SAM file, the HQ decoder.

    Args:
        source: path of a ``sam_vit_*.pth`` / ``sam_hq_vit_*.pth`` file, or its state dict.
        model: the network to fill; ``None`` builds one of the checkpoint's architecture.
        lora_rank: LoRA rank of the network built when ``model`` is ``None``.
        lora_alpha: LoRA alpha of the network built when ``model`` is ``None``.

    Returns:
        The filled network (``model`` itself when given), on ``model``'s device, LoRA unmerged.

    Raises:
        CheckpointError: unreadable or non-SAM file, an architecture other than the model's (the message
            names both, e.g. "checkpoint is vit_l (SAM), model is vit_b"), or a key mismatch.
    """
    name = str(source) if isinstance(source, (str, Path)) else "state dict"
    state = read_state_dict(source) if isinstance(source, (str, Path)) else dict(source)
    info = inspect_state_dict(state, name)
    if model is None:
        if info.config is None:
            raise CheckpointError(
                f"{name} is {info.describe()}: not a known SAM size (image {info.image_size_px} px); "
                "expected vit_b, vit_l or vit_h"
            )
        model = build_rossam(info.config, lora_rank=lora_rank, lora_alpha=lora_alpha)
    elif not _same_architecture(info, model.config):
        raise CheckpointError(
            f"checkpoint is {info.describe()}, model is {model.config.name}; "
            f"build the model as {info.arch} or give a {model.config.name} checkpoint ({name})"
        )

    mapped: StateDict = {}
    sam_decoder_keys = {f"mask_decoder.{k}" for k in model.mask_decoder.state_dict()}
    for key, value in state.items():
        if info.family == "hq-sam" and key.startswith("mask_decoder."):
            mapped["hq_decoder." + key[len("mask_decoder.") :]] = value
            if key in sam_decoder_keys:
                mapped[key] = value
        else:
            mapped[key] = value
    model_keys = set(model.state_dict())
    allowed_missing = {k for k in model_keys if is_lora_parameter_name(k)}
    if info.family == "sam":
        allowed_missing |= {k for k in model_keys if k.startswith("hq_decoder.")}
    _load_checked(model, mapped, allowed_missing, name)
    for layer in model.lora_layers():
        layer.merged = False  # the qkv weights are now the official base weights
    return model


# ---------------------------------------------------------------------------------------- adapter files
@dataclass(frozen=True)
class AdapterMetadata:
    """Header of an adapter or merged-export file.

    Attributes:
        format: :data:`ADAPTER_FORMAT` or :data:`MERGED_FORMAT`.
        format_version: file layout version.
        arch: configuration name (``"vit_b"``...).
        config: the full network configuration.
        lora_rank: LoRA rank of the trained network.
        lora_alpha: LoRA alpha of the trained network.
        base_name: base weights (registry name such as ``"sam_hq_vit_b"`` or a file name); may be empty in a
            merged export.
        base_sha256: lowercase hex SHA-256 of the base file; empty when unknown.
        package_version: rossam_geo version that wrote the file.
    """

    format: str
    format_version: str
    arch: str
    config: RosSamConfig
    lora_rank: int
    lora_alpha: float
    base_name: str
    base_sha256: str
    package_version: str

    def to_header(self) -> dict[str, str]:
        """String-to-string metadata for the safetensors header."""
        return {
            "format": self.format,
            "format_version": self.format_version,
            "arch": self.arch,
            "config": json.dumps(self.config.to_dict(), sort_keys=True),
            "lora_rank": str(self.lora_rank),
            "lora_alpha": repr(self.lora_alpha),
            "base_name": self.base_name,
            "base_sha256": self.base_sha256,
            "package_version": self.package_version,
        }

    @classmethod
    def from_header(cls, header: Mapping[str, str], source: str = "file") -> AdapterMetadata:
        """Parse a safetensors header written by :meth:`to_header`.

        Raises:
            CheckpointError: not one of our files, a newer format version, or damaged fields.
        """
        fmt = header.get("format", "")
        if fmt not in (ADAPTER_FORMAT, MERGED_FORMAT):
            raise CheckpointError(
                f"{source} is not a rossam-geo adapter or merged export (metadata format {fmt!r}); "
                "official SAM / HQ-SAM files load with load_official"
            )
        version = header.get("format_version", "")
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"{source} has format version {version!r}; this rossam-geo reads version {FORMAT_VERSION}: "
                "upgrade rossam-geo"
            )
        try:
            config = RosSamConfig.from_dict(json.loads(header["config"]))
            return cls(
                format=fmt,
                format_version=version,
                arch=header["arch"],
                config=config,
                lora_rank=int(header["lora_rank"]),
                lora_alpha=float(header["lora_alpha"]),
                base_name=header.get("base_name", ""),
                base_sha256=header.get("base_sha256", ""),
                package_version=header.get("package_version", ""),
            )
        except (KeyError, ValueError, InputError) as exc:
            raise CheckpointError(f"{source} has a damaged metadata header: {exc}") from None


def read_metadata(path: str | Path) -> AdapterMetadata:
    """Read the header of an adapter or merged-export file.

    Raises:
        CheckpointError: missing file or not one of our files.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    return AdapterMetadata.from_header(_safetensors_metadata(path), str(path))


def adapter_keys(model: RosSam) -> list[str]:
    """State-dict keys stored in an adapter: LoRA, the last encoder block, SAM decoder, HQ decoder."""
    last_prefix = f"image_encoder.blocks.{model.config.last_block_index}."
    return [
        k
        for k in model.state_dict()
        if is_lora_parameter_name(k) or k.startswith((last_prefix, "mask_decoder.", "hq_decoder."))
    ]


def _lora_weight_keys(model: RosSam) -> dict[str, LoRAQKVLinear]:
    return {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, LoRAQKVLinear)}


def _unmerged_state(model: RosSam, keys: Iterable[str]) -> StateDict:
    """The model's tensors for ``keys``, with merged LoRA updates taken out of the qkv weights."""
    full = model.state_dict()
    lora_weights = _lora_weight_keys(model)
    state: StateDict = {}
    for key in keys:
        value = full[key].detach()
        layer = lora_weights.get(key)
        if layer is not None and layer.merged:
            value = value - layer.lora_delta_weight().to(value.dtype)
        state[key] = value.cpu().contiguous()
    return state


def _write_safetensors(state: StateDict, path: Path, header: dict[str, str], overwrite: bool) -> Path:
    from safetensors.torch import save_file

    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=header)
    return path


def _metadata(model: RosSam, file_format: str, base_name: str, base_sha256: str) -> AdapterMetadata:
    """The header of an adapter or merged file written from ``model``."""
    return AdapterMetadata(
        format=file_format,
        format_version=FORMAT_VERSION,
        arch=model.config.name,
        config=model.config,
        lora_rank=model.lora_rank,
        lora_alpha=model.lora_alpha,
        base_name=base_name,
        base_sha256=base_sha256,
        package_version=_package_version(),
    )


def _package_version() -> str:
    from rossam_geo import __version__

    return __version__


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
        base_sha256: lowercase hex SHA-256 of that base file (:func:`rossam_geo.hashing.sha256_file`).
        overwrite: replace an existing file.

    Returns:
        ``path``.

    Raises:
        InputError: a malformed SHA-256.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    if not _SHA256_RE.match(base_sha256):
        raise InputError(f"base_sha256 must be 64 lowercase hex digits, got {base_sha256!r}")
    meta = _metadata(model, ADAPTER_FORMAT, base_name, base_sha256)
    state = _unmerged_state(model, adapter_keys(model))
    return _write_safetensors(state, Path(path), meta.to_header(), overwrite)


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
            f"adapter {path} does not match the model: missing {_format_keys(missing) or 'none'}; "
            f"unexpected {_format_keys(unexpected) or 'none'}"
        )
    model.unmerge_lora()
    _load_checked(model, state, set(model.state_dict()) - expected, str(path))
    return meta


# -------------------------------------------------------------------------------------- merged exports
def export_merged(
    model: RosSam,
    path: str | Path,
    *,
    base_name: str = "",
    base_sha256: str = "",
    overwrite: bool = False,
) -> Path:
    """Write the whole network, LoRA folded into the qkv weights, to one safetensors file.

    The file loads back with :func:`load_merged` into a network without LoRA layers. ``model`` is not
    changed.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    lora_weights = _lora_weight_keys(model)
    state: StateDict = {}
    for key, value in model.state_dict().items():
        if is_lora_parameter_name(key):
            continue
        layer = lora_weights.get(key)
        value = value.detach()
        if layer is not None and not layer.merged:
            value = value + layer.lora_delta_weight().detach().to(value.dtype)
        state[key] = value.cpu().contiguous()
    meta = _metadata(model, MERGED_FORMAT, base_name, base_sha256)
    return _write_safetensors(state, Path(path), meta.to_header(), overwrite)


def load_merged(path: str | Path) -> RosSam:
    """Load a file written by :func:`export_merged` into a new network (no LoRA layers), strictly.

    Raises:
        CheckpointError: not a merged export, or its tensors do not match its configuration.
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta.format != MERGED_FORMAT:
        raise CheckpointError(f"{path} is an adapter, not a merged export; load its base, then load_adapter")
    model = build_rossam(meta.config, lora_rank=0)
    _load_checked(model, read_state_dict(path), set(), str(path))
    return model


# ------------------------------------------------------------------------------------ reference folders
_REFERENCE_LORA_NAMES = dict(
    zip(("linear_a_q", "linear_b_q", "linear_a_v", "linear_b_v"), LORA_MODULE_NAMES, strict=True)
)
_STRIPPED_PREFIXES = ("module.", "_orig_mod.")


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _STRIPPED_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _map_reference_sam_key(key: str) -> str:
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
        state = {_strip_prefixes(k): v for k, v in read_state_dict(file).items()}
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
    rank_key = "image_encoder.blocks.0.attn.qkv.lora_a_q.weight"
    rank = int(sam_state[rank_key].shape[0]) if rank_key in sam_state else 0
    model = build_rossam(info.config, lora_rank=rank, lora_alpha=float(rank))
    state = dict(sam_state)
    state.update({f"hq_decoder.{k}": v for k, v in hq_state.items()})
    _load_checked(model, state, set(), str(folder))
    return model
