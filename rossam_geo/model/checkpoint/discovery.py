"""Finding and loading the weights of a network: registry names or paths, official files, adapters with their
verified base, merged exports, reference-code folders, or random weights of a configuration.

The SAM-family engines (:mod:`rossam_geo.engines.sam`) build their network through these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rossam_geo.errors import ChecksumError, WeightsError

if TYPE_CHECKING:
    from rossam_geo.model.checkpoint.metadata import AdapterMetadata
    from rossam_geo.model.config import RosSamConfig
    from rossam_geo.model.rossam import RosSam

#: what to do when the rossam engine has no weights.
NO_ROSSAM_WEIGHTS = (
    "the rossam engine needs trained ROS-SAM weights: none are published, they come from "
    "`rossam-geo train`; pass the adapter (.safetensors) it writes, a merged export or a reference-code "
    "checkpoint folder with --weights PATH. Without training, use --engine hq-sam or --engine sam with "
    "official weights (`rossam-geo weights fetch sam_hq_vit_b`)"
)


def resolve_weights_path(weights: str | Path) -> Path:
    """An existing path as is, else the weights manager's answer for a registry name."""
    path = Path(weights).expanduser()
    if path.exists():
        return path
    from rossam_geo.weights import resolve_weights

    return resolve_weights(str(weights))


def official_network(weights: str | Path, family: str | None, engine: str) -> tuple[RosSam, str]:
    """Load an official checkpoint (of ``family`` when given) into a network without LoRA."""
    from rossam_geo.model.checkpoint import inspect_state_dict, load_official, read_state_dict

    path = resolve_weights_path(weights)
    state = read_state_dict(path)
    info = inspect_state_dict(state, str(path))
    if family is not None and info.family != family:
        raise WeightsError(
            f"the {engine} engine needs an HQ-SAM checkpoint (sam_hq_vit_*.pth), but {path} is "
            f"{info.describe()}; use --engine sam with it, or fetch HQ-SAM weights "
            "(`rossam-geo weights fetch sam_hq_vit_b`)"
        )
    return load_official(state, lora_rank=0), path.name


def random_network(config: RosSamConfig | str, lora_rank: int) -> tuple[RosSam, str]:
    """A randomly initialised network of ``config`` (tests, benchmarks) and its model name."""
    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.config import get_config

    cfg = get_config(config)
    return build_rossam(cfg, lora_rank=lora_rank), f"{cfg.name} (random weights)"


def adapter_base_path(meta: AdapterMetadata, adapter: Path, base_weights: str | Path | None) -> Path:
    """Find and verify (SHA-256) the base weights an adapter was trained on."""
    from rossam_geo.io.hashing import sha256_file

    name = str(base_weights) if base_weights is not None else meta.base_name
    if not name or name.startswith("random-init:"):
        raise WeightsError(
            f"adapter {adapter} was trained on {meta.base_name or 'an unnamed base'}, which is not a weights "
            "file; pass the base with base_weights=PATH, or use a merged export of that run"
        )
    beside = adapter.parent / name
    path = beside if base_weights is None and not Path(name).is_absolute() and beside.is_file() else None
    if path is None:
        try:
            path = resolve_weights_path(name)
        except WeightsError as exc:
            raise WeightsError(
                f"adapter {adapter} needs its base weights {name!r}: {exc}. Or give the base file's path "
                "with base_weights=PATH"
            ) from None
    if meta.base_sha256:
        found = sha256_file(path)
        if found != meta.base_sha256:
            raise ChecksumError(
                f"base weights {path} have SHA-256 {found}, but adapter {adapter} was trained on "
                f"{meta.base_name} with SHA-256 {meta.base_sha256}; give the right base file with "
                "base_weights=PATH"
            )
    return path


def rossam_network(weights: str | Path, base_weights: str | Path | None) -> tuple[RosSam, str]:
    """Load ROS-SAM weights: adapter (+ verified base), merged export or reference-code folder."""
    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.checkpoint import (
        file_format,
        import_reference_checkpoint,
        load_adapter,
        load_merged,
        load_official,
        read_metadata,
    )

    path = resolve_weights_path(weights)
    fmt = file_format(path)
    if fmt == "adapter":
        meta = read_metadata(path)
        base = adapter_base_path(meta, path, base_weights)
        model = build_rossam(meta.config, lora_rank=meta.lora_rank, lora_alpha=meta.lora_alpha)
        load_official(base, model)
        load_adapter(model, path)
        return model, f"{path.name} (base {base.name})"
    if fmt == "merged":
        return load_merged(path), path.name
    if fmt == "reference":
        return import_reference_checkpoint(path), f"{path.name} (ROS-SAM reference checkpoint)"
    raise WeightsError(
        f"{path} is not ROS-SAM weights (an adapter, merged export or reference folder); official SAM / "
        "HQ-SAM files run with --engine sam / --engine hq-sam. " + NO_ROSSAM_WEIGHTS
    )
