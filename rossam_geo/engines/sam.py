"""SAM-family engines: ``rossam`` (ROS-SAM), ``sam`` (official SAM) and ``hq-sam`` (official HQ-SAM).

All three run the same network (:class:`rossam_geo.model.RosSam`) in different modes: ``sam`` uses SAM's
decoder, ``hq-sam`` the HQ decoder's HQ token, ``rossam`` the trained LoRA encoder and HQ decoder. These
factories load the weights; :class:`rossam_geo.engines.sam_family.SamFamilyEngine` runs them (speed options:
``precision``, ``attention``, ``compile``, ``batch_size``, ``prefetch``, ``tta``, ``device_resample``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rossam_geo.engines.sam_family import SamFamilyEngine
from rossam_geo.engines.tta import TTA_MODES
from rossam_geo.errors import InputError, WeightsError
from rossam_geo.model.checkpoint.discovery import (
    NO_ROSSAM_WEIGHTS,
    official_network,
    random_network,
    rossam_network,
)

if TYPE_CHECKING:
    from rossam_geo.model.build import RosSamConfig
    from rossam_geo.model.rossam import RosSam

#: Registry names used when the ``sam`` / ``hq-sam`` engines get no ``weights``.
DEFAULT_WEIGHTS: dict[str, str] = {"sam": "sam_vit_b", "hq-sam": "sam_hq_vit_b"}
ROSSAM_MODES: tuple[str, ...] = ("hq", "sam+hq", "sam")


# ------------------------------------------------------------------------------------------ factories
#: inference options the SAM-family factories pass to :class:`SamFamilyEngine`.
INFERENCE_OPTIONS: tuple[str, ...] = (
    "precision",
    "attention",
    "compile",
    "prefetch",
    "tta",
    "device_resample",
)
#: configurations whose forward pass is cheap enough for 8-pass test-time augmentation by default.
TTA_BY_DEFAULT: dict[str, str] = {"compact": "d8", "compact-v4": "d8"}


def _inference_options(options: dict[str, Any], model: RosSam) -> dict[str, Any]:
    """Check the names of the inference options passed through a factory; resolve ``tta="auto"``.

    ``tta`` ``"auto"`` (the default) is ``"d8"`` for the compact configuration, whose 8 passes of a 128 px
    input take a fraction of a second per box on one CPU core, and ``"none"`` for the ViT-B/L/H networks,
    where each pass is a full 1024 px encoder run.

    Raises:
        InputError: an unknown option or tta mode.
    """
    unknown = sorted(set(options) - set(INFERENCE_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown engine options {unknown}; inference options are: {', '.join(INFERENCE_OPTIONS)}"
        )
    resolved = dict(options)
    tta = resolved.get("tta", "auto")
    if tta == "auto":
        tta = TTA_BY_DEFAULT.get(model.config.name, "none")
    if tta not in TTA_MODES:
        raise InputError(f"unknown tta {tta!r}; choose one of: auto, {', '.join(TTA_MODES)}")
    resolved["tta"] = tta
    return resolved


def build_rossam_engine(
    weights: str | Path | None = None,
    device: str = "auto",
    batch_size: int | str | None = None,
    mode: str = "hq",
    base_weights: str | Path | None = None,
    config: RosSamConfig | str | None = None,
    model: RosSam | None = None,
    **speed: Any,
) -> SamFamilyEngine:
    """The ``rossam`` engine: ROS-SAM with LoRA merged for inference.

    Args:
        weights: an adapter ``.safetensors`` (its base is found from its metadata through the weights manager
            and checked against the recorded SHA-256), a merged export, or a reference-code folder. None
            (with no ``config`` or ``model``): the compact model bundled with the package,
            ``rossam-compact-v3.2`` (128 px input; use trained vit_l weights for the best quality).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        batch_size: objects per forward pass, or ``"auto"`` (default: from free memory on CUDA, 1 on the
            CPU).
        mode: ``"hq"`` (HQ token, default) or ``"sam+hq"`` (SAM-decoder + HQ logits); ``"sam"`` also works.
        base_weights: the adapter's base file, where it is not where the metadata says.
        config: build a randomly initialised network of this configuration (tests, benchmarks).
        model: use this network as is (tests); its LoRA gets merged.
        **speed: ``precision``, ``attention``, ``compile``, ``prefetch`` and ``tta`` (see
            :class:`SamFamilyEngine`; ``tta="auto"``, the default, is ``"d8"`` for the compact network and
            ``"none"`` otherwise).

    Raises:
        WeightsError: no weights given (the message tells how to get them), base weights missing.
        ChecksumError: the base file is not the one the adapter was trained on.
        CheckpointError: unreadable or mismatched files.
    """
    if mode not in ROSSAM_MODES:
        raise InputError(f"unknown rossam mode {mode!r}; choose one of: {', '.join(ROSSAM_MODES)}")
    if model is not None:
        net, model_name = model, f"{model.config.name} (given model)"
    elif weights is not None:
        net, model_name = rossam_network(weights, base_weights)
    elif config is not None:
        from rossam_geo.model.build import DEFAULT_LORA_RANK

        net, model_name = random_network(config, lora_rank=DEFAULT_LORA_RANK)
    else:
        from rossam_geo.model.compact import COMPACT_MODEL_NAME, bundled_weights_path, load_bundled

        if bundled_weights_path() is None:
            raise WeightsError(NO_ROSSAM_WEIGHTS)
        net, model_name = load_bundled(), COMPACT_MODEL_NAME
    net.merge_lora()
    return SamFamilyEngine(
        name="rossam",
        model=net,
        mode=mode,
        model_name=model_name,
        device=device,
        batch_size=batch_size,
        **_inference_options(speed, net),
    )


def _official_engine(
    engine: str,
    mode: str,
    family: str | None,
    weights: str | Path | None,
    device: str,
    batch_size: int | str | None,
    config: RosSamConfig | str | None,
    model: RosSam | None,
    speed: dict[str, Any],
) -> SamFamilyEngine:
    if model is not None:
        net, model_name = model, f"{model.config.name} (given model)"
    elif weights is None and config is not None:
        net, model_name = random_network(config, lora_rank=0)
    else:
        net, model_name = official_network(weights or DEFAULT_WEIGHTS[engine], family, engine)
    net.merge_lora()
    return SamFamilyEngine(
        name=engine,
        model=net,
        mode=mode,
        model_name=model_name,
        device=device,
        batch_size=batch_size,
        **_inference_options(speed, net),
    )


def build_sam_engine(
    weights: str | Path | None = None,
    device: str = "auto",
    batch_size: int | str | None = None,
    config: RosSamConfig | str | None = None,
    model: RosSam | None = None,
    **speed: Any,
) -> SamFamilyEngine:
    """The ``sam`` engine: an official SAM (or HQ-SAM) checkpoint through SAM's own decoder.

    Args:
        weights: checkpoint path or registry name (default ``"sam_vit_b"``, which must be in the cache).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        batch_size: objects per forward pass, or ``"auto"`` (default: from free memory on CUDA, 1 on the
            CPU).
        config: build a randomly initialised network of this configuration (tests).
        model: use this network as is (tests).
        **speed: ``precision``, ``attention``, ``compile``, ``prefetch`` and ``tta`` (see
            :class:`SamFamilyEngine`; ``tta="auto"``, the default, is ``"d8"`` for the compact network and
            ``"none"`` otherwise).

    Raises:
        WeightsError: weights not found (the message tells how to fetch them).
        CheckpointError: not a SAM-family checkpoint.
    """
    return _official_engine("sam", "sam", None, weights, device, batch_size, config, model, speed)


def build_hq_sam_engine(
    weights: str | Path | None = None,
    device: str = "auto",
    batch_size: int | str | None = None,
    config: RosSamConfig | str | None = None,
    model: RosSam | None = None,
    **speed: Any,
) -> SamFamilyEngine:
    """The ``hq-sam`` engine: an official HQ-SAM checkpoint, HQ-token output (``hq_token_only``).

    Args:
        weights: checkpoint path or registry name (default ``"sam_hq_vit_b"``, which must be in the cache).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        batch_size: objects per forward pass, or ``"auto"`` (default: from free memory on CUDA, 1 on the
            CPU).
        config: build a randomly initialised network of this configuration (tests).
        model: use this network as is (tests).
        **speed: ``precision``, ``attention``, ``compile``, ``prefetch`` and ``tta`` (see
            :class:`SamFamilyEngine`; ``tta="auto"``, the default, is ``"d8"`` for the compact network and
            ``"none"`` otherwise).

    Raises:
        WeightsError: weights not found, or a plain SAM checkpoint.
        CheckpointError: not a SAM-family checkpoint.
    """
    return _official_engine("hq-sam", "hq", "hq-sam", weights, device, batch_size, config, model, speed)
