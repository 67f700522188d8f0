"""The metadata header of our safetensors files (adapter and merged export), and telling file kinds apart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from rossam_geo.errors import CheckpointError, InputError
from rossam_geo.model.checkpoint.state import read_safetensors_header, read_state_dict, write_safetensors
from rossam_geo.model.config import RosSamConfig
from rossam_geo.model.rossam import RosSam
from rossam_geo.model.score_quality import ScoreCalibration

ADAPTER_FORMAT = "rossam-geo-adapter"
MERGED_FORMAT = "rossam-geo-merged"
FORMAT_VERSION = "1"
#: header key of a model's score calibration (JSON), absent when it has none.
SCORE_CALIBRATION_KEY = "score_calibration"

FileFormat = Literal["official", "adapter", "merged", "reference"]


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
        score_calibration: the model's score calibration as JSON
            (:meth:`rossam_geo.model.score_quality.ScoreCalibration.to_json`); empty when it has none.
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
    score_calibration: str = ""

    @classmethod
    def for_model(cls, model: RosSam, file_format: str, base_name: str, base_sha256: str) -> AdapterMetadata:
        """The header of a ``file_format`` file written now from ``model`` (its config and LoRA sizes)."""
        from rossam_geo import __version__

        return cls(
            format=file_format,
            format_version=FORMAT_VERSION,
            arch=model.config.name,
            config=model.config,
            lora_rank=model.lora_rank,
            lora_alpha=model.lora_alpha,
            base_name=base_name,
            base_sha256=base_sha256,
            package_version=__version__,
        )

    def to_header(self) -> dict[str, str]:
        """String-to-string metadata for the safetensors header."""
        header = {
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
        if self.score_calibration:
            header[SCORE_CALIBRATION_KEY] = self.score_calibration
        return header

    def calibration(self) -> ScoreCalibration | None:
        """The score calibration stored in the header, or None.

        Raises:
            CheckpointError: it is damaged.
        """
        return ScoreCalibration.from_json(self.score_calibration) if self.score_calibration else None

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
                score_calibration=header.get(SCORE_CALIBRATION_KEY, ""),
            )
        except (KeyError, ValueError, InputError) as exc:
            raise CheckpointError(f"{source} has a damaged metadata header: {exc}") from None


def read_metadata(path: str | Path) -> AdapterMetadata:
    """Read the header of an adapter or merged-export file.

    Raises:
        CheckpointError: missing file or not one of our files.
    """
    return AdapterMetadata.from_header(_existing_header(path), str(path))


def _existing_header(path: str | Path) -> dict[str, str]:
    """The safetensors header of an existing file.

    Raises:
        CheckpointError: missing file or not a readable safetensors file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    return read_safetensors_header(path)


def write_with_metadata(
    state: Mapping[str, torch.Tensor], path: str | Path, meta: AdapterMetadata, overwrite: bool
) -> Path:
    """Write ``state`` to the safetensors file ``path`` (atomically) with ``meta`` as its header.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    return write_safetensors(state, Path(path), meta.to_header(), overwrite)


def write_score_calibration(
    source: str | Path, path: str | Path, calibration: ScoreCalibration | None, overwrite: bool = False
) -> Path:
    """Copy an adapter or merged export to ``path`` with ``calibration`` in its header (None removes it);
    tensors and every other header field stay as they are.

    Raises:
        CheckpointError: ``source`` is not one of our files.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    header = _existing_header(source)
    AdapterMetadata.from_header(header, str(source))  # one of our files, or a one-line error
    header.pop(SCORE_CALIBRATION_KEY, None)
    if calibration is not None:
        header[SCORE_CALIBRATION_KEY] = calibration.to_json()
    return write_safetensors(read_state_dict(source), Path(path), header, overwrite)


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
        fmt = read_safetensors_header(path).get("format")
        if fmt == ADAPTER_FORMAT:
            return "adapter"
        if fmt == MERGED_FORMAT:
            return "merged"
    return "official"
