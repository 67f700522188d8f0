"""The official SAM and HQ-SAM checkpoints: file names, download URLs and published checksums."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rossam_geo.errors import WeightsError

Arch = Literal["vit_b", "vit_l", "vit_h"]
Family = Literal["sam", "hq-sam"]

_SAM_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything"
_HQ_SAM_BASE_URL = "https://huggingface.co/lkeab/hq-sam/resolve/main"


@dataclass(frozen=True)
class WeightsEntry:
    """One downloadable checkpoint.

    Attributes:
        name: registry name used on the command line (``"sam_vit_b"``).
        filename: file name in the cache and on the download host (``"sam_vit_b_01ec64.pth"``).
        url: official download URL of the file.
        sha256: published lowercase hex SHA-256, or ``None`` where none has been published (the hash of the
            first complete download is then recorded in the cache folder and later copies are checked against
            it).
        size_bytes: published file size in bytes, or ``None`` where none has been published.
        arch: image encoder size.
        family: ``"sam"`` (official Segment Anything) or ``"hq-sam"`` (SAM with the HQ mask decoder).
        note: one line for users (approximate size, origin).
    """

    name: str
    filename: str
    url: str
    sha256: str | None
    size_bytes: int | None
    arch: Arch
    family: Family
    note: str = ""

    @property
    def hash_published(self) -> bool:
        """True when the registry carries a published SHA-256 for this file."""
        return self.sha256 is not None


def _sam(arch: Arch, filename: str, sha256: str, size_bytes: int | None, note: str) -> WeightsEntry:
    return WeightsEntry(
        name=f"sam_{arch}",
        filename=filename,
        url=f"{_SAM_BASE_URL}/{filename}",
        sha256=sha256,
        size_bytes=size_bytes,
        arch=arch,
        family="sam",
        note=note,
    )


def _hq_sam(arch: Arch, note: str) -> WeightsEntry:
    filename = f"sam_hq_{arch}.pth"
    return WeightsEntry(
        name=f"sam_hq_{arch}",
        filename=filename,
        url=f"{_HQ_SAM_BASE_URL}/{filename}",
        sha256=None,
        size_bytes=None,
        arch=arch,
        family="hq-sam",
        note=note,
    )


#: registry name -> checkpoint. Only hashes and sizes published by the model authors' hosts appear here.
REGISTRY: dict[str, WeightsEntry] = {
    entry.name: entry
    for entry in (
        _sam(
            "vit_b",
            "sam_vit_b_01ec64.pth",
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            375_042_383,
            "Segment Anything ViT-B, about 375 MB",
        ),
        _sam(
            "vit_l",
            "sam_vit_l_0b3195.pth",
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            None,
            "Segment Anything ViT-L, about 1.2 GB",
        ),
        _sam(
            "vit_h",
            "sam_vit_h_4b8939.pth",
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            None,
            "Segment Anything ViT-H, about 2.6 GB",
        ),
        _hq_sam("vit_b", "HQ-SAM ViT-B, about 379 MB; no published SHA-256"),
        _hq_sam("vit_l", "HQ-SAM ViT-L, about 1.3 GB; no published SHA-256"),
        _hq_sam("vit_h", "HQ-SAM ViT-H, about 2.6 GB; no published SHA-256"),
    )
}


def get_entry(name: str) -> WeightsEntry:
    """Return the registry entry called ``name`` (a registry name or an official file name).

    Raises:
        WeightsError: no entry has that name or file name.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    entry = entry_for_filename(name)
    if entry is not None:
        return entry
    raise WeightsError(f"unknown weights {name!r}; choose one of: {', '.join(REGISTRY)}")


def entry_for_filename(filename: str) -> WeightsEntry | None:
    """Return the registry entry whose file is called ``filename`` (base name only), or ``None``."""
    for entry in REGISTRY.values():
        if entry.filename == filename:
            return entry
    return None
