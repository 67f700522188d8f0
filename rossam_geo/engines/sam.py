"""SAM-family engines: ``rossam`` (ROS-SAM), ``sam`` (official SAM) and ``hq-sam`` (official HQ-SAM).

All three run the same network (:class:`rossam_geo.model.RosSam`) in different modes: ``sam`` uses SAM's
decoder, ``hq-sam`` the HQ decoder's HQ token, ``rossam`` the trained LoRA encoder and HQ decoder. Inference
runs under ``torch.inference_mode()``. Speed options (see :mod:`rossam_geo.model.fast` and
``docs/performance.md``): ``precision`` (bf16 autocast, default on CUDA), ``attention`` (fused SDPA, default
on CUDA), ``compile`` (``torch.compile`` of the encoder), ``batch_size="auto"`` (from free CUDA memory, the
default on CUDA) and ``prefetch`` (batches read ahead on a CPU thread).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.engines.base import EnginePrediction
from rossam_geo.engines.tta import TTA_MODES, augment, merge, symmetries
from rossam_geo.errors import ChecksumError, EngineError, InputError, WeightsError

if TYPE_CHECKING:
    import torch

    from rossam_geo.model.build import RosSamConfig
    from rossam_geo.model.checkpoint import AdapterMetadata
    from rossam_geo.model.rossam import RosSam

#: Registry names used when the ``sam`` / ``hq-sam`` engines get no ``weights``.
DEFAULT_WEIGHTS: dict[str, str] = {"sam": "sam_vit_b", "hq-sam": "sam_hq_vit_b"}
#: Objects per predict call when no batch size is given, by device type (CUDA: from free memory).
DEFAULT_MAX_BATCH: dict[str, int] = {"cuda": 8, "mps": 2, "cpu": 1}
#: Batches whose windows the segment pipeline reads ahead on a CPU thread, by default.
DEFAULT_PREFETCH_BATCHES = 2
ROSSAM_MODES: tuple[str, ...] = ("hq", "sam+hq", "sam")

_NO_ROSSAM_WEIGHTS = (
    "the rossam engine needs trained ROS-SAM weights: none are published, they come from "
    "`rossam-geo train`; pass the adapter (.safetensors) it writes, a merged export or a reference-code "
    "checkpoint folder with --weights PATH. Without training, use --engine hq-sam or --engine sam with "
    "official weights (`rossam-geo weights fetch sam_hq_vit_b`)"
)


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"mps"`` into an available torch device.

    ``"auto"`` picks CUDA, then Apple MPS, then the CPU.

    Raises:
        EngineError: the device is unknown or not available on this machine.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise EngineError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise EngineError(f"device {device!r} asked for, but MPS is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise EngineError(f"unsupported device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return dev


class SamFamilyEngine:
    """An :class:`~rossam_geo.engines.base.Engine` around a :class:`~rossam_geo.model.RosSam` network.

    Attributes:
        name: engine name (``"rossam"``, ``"sam"``, ``"hq-sam"``).
        model_name: weights behind it, recorded in every output feature.
        input_size_px: the network's input side (1024 for official sizes).
        max_batch: objects per forward pass.
        mode: the network's predict mode (``"hq"``, ``"sam"``, ``"sam+hq"``).
        model: the network, in eval mode on :attr:`device`.
        device: where it runs.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        attention: the encoder's attention kernel, ``"sdpa"`` or ``"reference"``.
        prefetch_batches: batches the segment pipeline prepares ahead on a CPU thread (0: none).
    """

    def __init__(
        self,
        *,
        name: str,
        model: RosSam,
        mode: str,
        model_name: str,
        device: str = "auto",
        batch_size: int | str | None = None,
        precision: str = "auto",
        attention: str = "auto",
        compile: bool = False,
        prefetch: int = DEFAULT_PREFETCH_BATCHES,
        tta: str = "none",
    ) -> None:
        """Wrap ``model``; it is moved to ``device`` and put in eval mode.

        Args:
            name, model, mode, model_name: see the attributes.
            device: ``"auto"``, ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"mps"``.
            batch_size: objects per forward pass; ``"auto"``: as many as fit in the free CUDA memory (1 on
                other devices); None: ``"auto"`` on CUDA, :data:`DEFAULT_MAX_BATCH` elsewhere.
            precision: ``"auto"`` (bf16 on CUDA, fp32 elsewhere), ``"fp32"`` or ``"bf16"``.
            attention: ``"auto"`` (sdpa on CUDA, reference elsewhere), ``"sdpa"`` or ``"reference"``.
            compile: ``torch.compile`` the image encoder (slow first call per batch shape).
            prefetch: batches read ahead by the segment pipeline (0: read in the main thread).
            tta: test-time augmentation, ``"none"``, ``"flips"`` (4 passes) or ``"d8"`` (8 passes): the
                logits of the flipped / transposed inputs are mapped back and averaged
                (:mod:`rossam_geo.engines.tta`); the variants of an object share one forward pass.

        Raises:
            InputError: a batch size below 1, an unknown precision, attention or tta, a negative prefetch.
            EngineError: unavailable device.
        """
        from rossam_geo.model.fast import (
            auto_batch_size,
            configure_for_inference,
            resolve_attention,
            resolve_precision,
        )
        from rossam_geo.model.rossam import PREDICT_MODES

        if mode not in PREDICT_MODES:
            raise InputError(
                f"unknown mode {mode!r} for the {name} engine; choose one of: {', '.join(PREDICT_MODES)}"
            )
        if batch_size != "auto" and batch_size is not None and int(batch_size) < 1:
            raise InputError(
                f"batch_size must be >= 1, got {batch_size}; or 'auto' to fit the free CUDA memory"
            )
        if int(prefetch) < 0:
            raise InputError(f"prefetch must be >= 0 batches, got {prefetch}")
        self.device = resolve_device(device)
        self.name = name
        self.mode = mode
        self.model_name = model_name
        self.precision = resolve_precision(precision, self.device)
        self.attention = resolve_attention(attention, self.device)
        self.prefetch_batches = int(prefetch)
        self.tta = tta
        self._symmetries = symmetries(tta)
        self.model = model.to(self.device).eval()
        self.input_size_px: int | None = model.image_size_px
        configure_for_inference(self.model, attention=self.attention, compile_encoder=False)
        if batch_size == "auto" or (batch_size is None and self.device.type == "cuda"):
            self.max_batch = auto_batch_size(self.model, self.mode, self.precision)
        else:
            self.max_batch = int(batch_size) if batch_size else DEFAULT_MAX_BATCH.get(self.device.type, 1)
        if compile:
            configure_for_inference(self.model, attention=self.attention, compile_encoder=True)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        from rossam_geo.model.fast import autocast_context

        return autocast_context(self.device, self.precision)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """Host array -> device tensor; on CUDA through pinned memory, without blocking the host."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        """Segment one object per image; see :meth:`rossam_geo.engines.base.Engine.predict`.

        Args:
            images_rgb_u8: (B, S, S, 3) uint8 RGB, S = :attr:`input_size_px`.
            boxes_px_xyxy: (B, 4) XYXY boxes in model-input pixels.

        Returns:
            (B, S, S) float32 mask logits and (B,) float32 predicted IoU.

        Raises:
            InputError: wrong shapes or dtype.
        """
        import torch

        images = np.asarray(images_rgb_u8)
        boxes = np.asarray(boxes_px_xyxy, dtype=np.float64)
        size = self.input_size_px
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise InputError(
                f"the {self.name} engine takes (B, {size}, {size}, 3) uint8 RGB images, got "
                f"{images.dtype} {images.shape}"
            )
        if boxes.shape != (images.shape[0], 4):
            raise InputError(f"expected ({images.shape[0]}, 4) boxes, one per image, got {boxes.shape}")
        logits_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        variants = self._symmetries
        # Objects per forward pass; with test-time augmentation an object's variants share its pass.
        per_pass = max(1, self.max_batch // len(variants))
        with torch.inference_mode(), self._autocast():
            for start in range(0, images.shape[0], per_pass):
                stop = start + per_pass
                chunk_images, chunk_boxes = augment(
                    images[start:stop], boxes[start:stop], size or 0, variants
                )
                chunk = self._to_device(chunk_images)
                box_chunk = self._to_device(chunk_boxes.astype(np.float32))
                logits, scores = self.model.predict(chunk, box_chunk, mode=self.mode)  # type: ignore[arg-type]
                # One device-to-host synchronisation per chunk: the scores ride along with the logits.
                side = logits.shape[-1]
                packed = torch.cat([logits.float().flatten(1), scores.float()[:, None]], dim=1).cpu().numpy()
                chunk_logits, chunk_scores = merge(
                    packed[:, :-1].reshape(-1, logits.shape[-2], side), packed[:, -1], variants
                )
                logits_parts.append(chunk_logits)
                score_parts.append(chunk_scores)
        if not logits_parts:
            side = int(size or 0)
            return EnginePrediction(np.zeros((0, side, side), np.float32), np.zeros(0, np.float32))
        return EnginePrediction(
            mask_logits=np.concatenate(logits_parts).astype(np.float32, copy=False),
            scores=np.concatenate(score_parts).astype(np.float32, copy=False),
        )


# ------------------------------------------------------------------------------------------- weights
def _resolve_path(weights: str | Path) -> Path:
    """An existing path as is, else the weights manager's answer for a registry name."""
    path = Path(weights).expanduser()
    if path.exists():
        return path
    from rossam_geo.weights import resolve_weights

    return resolve_weights(str(weights))


def _official_model(weights: str | Path, family: str | None, engine: str) -> tuple[RosSam, str]:
    """Load an official checkpoint (of ``family`` when given) into a network without LoRA."""
    from rossam_geo.model.checkpoint import inspect_state_dict, load_official, read_state_dict

    path = _resolve_path(weights)
    state = read_state_dict(path)
    info = inspect_state_dict(state, str(path))
    if family is not None and info.family != family:
        raise WeightsError(
            f"the {engine} engine needs an HQ-SAM checkpoint (sam_hq_vit_*.pth), but {path} is "
            f"{info.describe()}; use --engine sam with it, or fetch HQ-SAM weights "
            "(`rossam-geo weights fetch sam_hq_vit_b`)"
        )
    return load_official(state, lora_rank=0), path.name


def _random_model(config: RosSamConfig | str, lora_rank: int) -> tuple[RosSam, str]:
    from rossam_geo.model.build import build_rossam, get_config

    cfg = get_config(config)
    return build_rossam(cfg, lora_rank=lora_rank), f"{cfg.name} (random weights)"


def _base_path(meta: AdapterMetadata, adapter: Path, base_weights: str | Path | None) -> Path:
    """Find and verify (SHA-256) the base weights an adapter was trained on."""
    from rossam_geo.hashing import sha256_file

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
            path = _resolve_path(name)
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


def _rossam_model(weights: str | Path, base_weights: str | Path | None) -> tuple[RosSam, str]:
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

    path = _resolve_path(weights)
    fmt = file_format(path)
    if fmt == "adapter":
        meta = read_metadata(path)
        base = _base_path(meta, path, base_weights)
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
        "HQ-SAM files run with --engine sam / --engine hq-sam. " + _NO_ROSSAM_WEIGHTS
    )


# ------------------------------------------------------------------------------------------ factories
#: inference options the SAM-family factories pass to :class:`SamFamilyEngine`.
INFERENCE_OPTIONS: tuple[str, ...] = ("precision", "attention", "compile", "prefetch", "tta")
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
            ``rossam-compact-v3`` (128 px input; use trained vit_l weights for the best quality).
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
        net, model_name = _rossam_model(weights, base_weights)
    elif config is not None:
        from rossam_geo.model.build import DEFAULT_LORA_RANK

        net, model_name = _random_model(config, lora_rank=DEFAULT_LORA_RANK)
    else:
        from rossam_geo.model.compact import COMPACT_MODEL_NAME, bundled_weights_path, load_bundled

        if bundled_weights_path() is None:
            raise WeightsError(_NO_ROSSAM_WEIGHTS)
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
        net, model_name = _random_model(config, lora_rank=0)
    else:
        net, model_name = _official_model(weights or DEFAULT_WEIGHTS[engine], family, engine)
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
