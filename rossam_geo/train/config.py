"""Training configuration: one frozen dataclass whose defaults are the ROS-SAM paper's settings.

The command line (``rossam-geo train``) exposes every field as an option of the same name (underscores become
dashes); a ``--config FILE.toml`` supplies option defaults through click's ``default_map``, with the TOML keys
spelled like the field names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from rossam_geo.errors import InputError

ModelName = Literal["vit_b", "vit_l", "vit_h", "tiny"]
DataFormat = Literal["auto", "coco", "satmtb", "geotiff"]
Precision = Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true"]
LossSampling = Literal["points", "dense"]

MODEL_NAMES: tuple[str, ...] = ("vit_b", "vit_l", "vit_h", "tiny")
DATA_FORMATS: tuple[str, ...] = ("auto", "coco", "satmtb", "geotiff")
PRECISIONS: tuple[str, ...] = ("32-true", "bf16-mixed", "16-mixed", "bf16-true")
LOSS_SAMPLINGS: tuple[str, ...] = ("points", "dense")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on.

    Attributes:
        data: training data: a COCO instance JSON file (images resolved relative to it), a SAT-MTB style
            folder (``{split}/img``, ``{split}/boxes``, ``{split}/onehotmask``) or a GeoTIFF scene.
        output_dir: folder receiving ``last.safetensors``, ``best.safetensors``, ``state/last.ckpt`` (resume
            state) and ``logs/metrics.csv``.
        data_format: ``auto`` picks from ``data``: ``.json`` -> coco, folder -> satmtb, raster -> geotiff.
        labels: GeoPackage (or any vector file) of label polygons for the ``geotiff`` format, in any CRS.
        class_column: attribute of ``labels`` holding the class name (``geotiff`` format).
        split: SAT-MTB split folder to read (``train``).
        chip_size_px: side of the square chips cut from a GeoTIFF scene (or, with ``tile_images``, from each
            COCO / SAT-MTB image), in pixels.
        tile_images: cut COCO / SAT-MTB images into ``chip_size_px`` chips after the train/validation split
            (for images much larger than the model input, e.g. the tiny test network).
        val_data: separate validation data in the same format; when empty, ``val_fraction`` of the images of
            ``data`` (seeded split) are held out instead.
        val_fraction: share of the images held out for validation when ``val_data`` is empty (0 disables).
        classes: keep only objects of these classes (case-insensitive); empty keeps all.
        exclude_classes: drop objects of these classes (case-insensitive). The paper drops cars.
        max_objects: at most this many objects (a seeded random subset) per training image and step; 0 keeps
            all, as the paper does (all objects of an image are prompted at once).
        model: network size: ``vit_b``, ``vit_l`` (paper), ``vit_h`` or ``tiny`` (tests and smoke runs).
        base_weights: official SAM or HQ-SAM weights: a registry name or a file path. HQ-SAM weights are
            preferred so the HQ decoder starts from HQ-SAM's prior. Empty: random initialisation (``tiny``).
        lora_rank: rank of the LoRA updates on q and v of every encoder block.
        lora_alpha: LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_rank``).
        epochs: passes over the training images (paper: 24).
        lr: AdamW learning rate (paper: 1e-3).
        weight_decay: AdamW weight decay.
        batch_size: images per step and device (each image carries all its box prompts; paper: 1).
        workers: data-loading worker processes per device.
        precision: Lightning Fabric precision: ``32-true``, ``bf16-mixed`` (GPU autocast), ``16-mixed``.
        accelerator: ``auto``, ``cpu``, ``cuda``... as Lightning Fabric accepts.
        devices: devices per node (``auto``: all visible; under ``torchrun`` the launcher's world size).
        grad_checkpointing: ``auto`` enables activation checkpointing for vit_l and vit_h.
        seed: seeds the split, the augmentations, the shuffling and the loss's point sampling.
        lsj_min_scale: smallest large-scale-jitter factor (paper: 0.1).
        lsj_max_scale: largest large-scale-jitter factor (paper: 4.0).
        rotation: rotate training images by a uniformly random angle in [-180, 180) degrees (paper: on).
        photometric: random brightness, contrast and per-channel gain.
        box_noise: prompt-box corner noise as a fraction of box width/height (0 = exact boxes, paper).
        loss_sampling: ``points``: HQ-SAM's uncertainty-sampled points; ``dense``: every pixel.
        loss_points: number of points per mask for ``points`` sampling (112 x 112).
        bce_pos_weight: weight of foreground pixels in the BCE term.
        iou_loss_weight: weight of the IoU-head loss, SAM's mean squared error between the trained decoder's
            predicted IoU and the actual IoU of its (detached) mask; 0 leaves the head untrained, as the
            paper does. Not in the paper: it makes the output ``score`` a predicted IoU.
        resume: continue from ``output_dir/state/last.ckpt`` when it exists.
        overwrite: allow writing into an ``output_dir`` that already holds results without resuming.
        progress: show a progress bar on the main process.
    """

    data: str
    output_dir: str
    data_format: DataFormat = "auto"
    labels: str = ""
    class_column: str = "class"
    split: str = "train"
    chip_size_px: int = 512
    tile_images: bool = False
    val_data: str = ""
    val_fraction: float = 0.1
    classes: tuple[str, ...] = ()
    exclude_classes: tuple[str, ...] = ("car",)
    max_objects: int = 0
    model: ModelName = "vit_l"
    base_weights: str = "sam_hq_vit_l"
    lora_rank: int = 16
    lora_alpha: float = 16.0
    epochs: int = 24
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1
    workers: int = 2
    precision: Precision = "32-true"
    accelerator: str = "auto"
    devices: str = "auto"
    grad_checkpointing: Literal["auto", "on", "off"] = "auto"
    seed: int = 0
    lsj_min_scale: float = 0.1
    lsj_max_scale: float = 4.0
    rotation: bool = True
    photometric: bool = True
    box_noise: float = 0.0
    loss_sampling: LossSampling = "points"
    loss_points: int = 112 * 112
    bce_pos_weight: float = 1.0
    iou_loss_weight: float = 1.0
    resume: bool = False
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        _check_choice("model", self.model, MODEL_NAMES)
        _check_choice("data_format", self.data_format, DATA_FORMATS)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("loss_sampling", self.loss_sampling, LOSS_SAMPLINGS)
        _check_choice("grad_checkpointing", self.grad_checkpointing, ("auto", "on", "off"))
        if self.epochs < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if self.lora_rank < 1:
            raise InputError(f"lora_rank must be >= 1, got {self.lora_rank}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be in [0, 1), got {self.val_fraction}; use 0 to disable")
        if not 0.0 < self.lsj_min_scale <= self.lsj_max_scale:
            raise InputError(
                f"need 0 < lsj_min_scale <= lsj_max_scale, got {self.lsj_min_scale} and {self.lsj_max_scale}"
            )
        if not 0.0 <= self.box_noise < 1.0:
            raise InputError(f"box_noise must be in [0, 1) (a fraction of box size), got {self.box_noise}")
        if self.max_objects < 0:
            raise InputError(f"max_objects must be >= 0 (0 keeps all), got {self.max_objects}")
        if self.chip_size_px < 16:
            raise InputError(f"chip_size_px must be >= 16, got {self.chip_size_px}")
        if not self.iou_loss_weight >= 0:
            raise InputError(
                f"iou_loss_weight must be >= 0 (0 leaves the IoU head untrained), got {self.iou_loss_weight}"
            )
        if self.loss_points < 1:
            raise InputError(f"loss_points must be >= 1, got {self.loss_points}")

    @property
    def output_path(self) -> Path:
        """``output_dir`` as a path."""
        return Path(self.output_dir)

    @property
    def use_grad_checkpointing(self) -> bool:
        """Whether activation checkpointing is on (``auto``: for vit_l and vit_h)."""
        if self.grad_checkpointing == "auto":
            return self.model in ("vit_l", "vit_h")
        return self.grad_checkpointing == "on"

    def check_paths(self) -> None:
        """Refuse, before anything is loaded, input paths that do not exist and an output folder that cannot
        be written.

        Raises:
            InputError: ``data``, ``val_data`` or ``labels`` does not exist, or ``output_dir`` cannot be
                written into.
        """
        from rossam_geo.io.atomic import check_writable_folder

        for option, value in (
            ("--data", self.data),
            ("--val-data", self.val_data),
            ("--labels", self.labels),
        ):
            if value and not Path(value).exists():
                raise InputError(f"{option} {value!r} does not exist; check the path")
        check_writable_folder(self.output_path, option="--output-dir")

    @classmethod
    def from_options(cls, **options: Any) -> TrainConfig:
        """Build a config from keyword options, ignoring ``None`` values and converting lists to tuples.

        Raises:
            InputError: an option name is unknown or a value is out of range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown training option(s) {unknown}; known options: {sorted(known)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in options.items() if v is not None
        }
        return cls(**values)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
