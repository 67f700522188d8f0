"""Checking a weights file against its published or locally recorded SHA-256."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rossam_geo.errors import InputError, WeightsError
from rossam_geo.io.hashing import sha256_file
from rossam_geo.weights.cache import HASH_SOURCE_LABELS, ExpectedHash, HashSource, expected_hash
from rossam_geo.weights.cache import cache_dir as resolve_cache_dir
from rossam_geo.weights.registry import entry_for_filename

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def normalize_sha256(value: str) -> str:
    """Return ``value`` as a lowercase 64-digit hex SHA-256.

    Raises:
        InputError: ``value`` is not 64 hexadecimal digits.
    """
    digest = value.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise InputError(f"{value!r} is not a SHA-256; give 64 hexadecimal digits")
    return digest


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking one file.

    Attributes:
        path: the file checked.
        sha256: its lowercase hex SHA-256.
        size_bytes: its size in bytes.
        expected_sha256: the hash it should have, or ``None`` when none is known.
        hash_source: where ``expected_sha256`` comes from: ``"published"``, ``"recorded"`` (first download,
            not published), ``"given"`` or ``"none"``.
        entry_name: registry name matched by file name, or ``None``.
        expected_size_bytes: published size in bytes, or ``None``.
    """

    path: Path
    sha256: str
    size_bytes: int
    expected_sha256: str | None
    hash_source: HashSource
    entry_name: str | None = None
    expected_size_bytes: int | None = None

    @property
    def ok(self) -> bool | None:
        """True: size and hash match; False: either differs; None: no hash to compare against."""
        if self.expected_size_bytes is not None and self.size_bytes != self.expected_size_bytes:
            return False
        if self.expected_sha256 is None:
            return None
        return self.sha256 == self.expected_sha256

    @property
    def hash_label(self) -> str:
        """Human-readable origin of the expected hash."""
        return HASH_SOURCE_LABELS[self.hash_source]

    def describe(self) -> str:
        """One line for users: verdict, file, hashes and their origin."""
        if self.ok is None:
            return (
                f"UNVERIFIED {self.path}: sha256 {self.sha256}; no SHA-256 to compare against "
                f"({self.hash_label})"
            )
        if self.ok:
            return f"OK {self.path}: sha256 {self.sha256} ({self.hash_label})"
        parts = [f"MISMATCH {self.path}:"]
        if self.expected_size_bytes is not None and self.size_bytes != self.expected_size_bytes:
            parts.append(f"size {self.size_bytes} bytes, expected {self.expected_size_bytes};")
        parts.append(f"sha256 {self.sha256}, expected {self.expected_sha256} ({self.hash_label})")
        return " ".join(parts)


def verify(
    path: Path | str, expected_sha256: str | None = None, cache_dir: Path | str | None = None
) -> VerifyResult:
    """Hash the file at ``path`` and compare it with the hash it should have.

    Args:
        path: the weights file.
        expected_sha256: hash to compare against. When omitted, the registry entry with the same file name
            gives it: its published SHA-256, or else the hash recorded on first download in the cache folder.
        cache_dir: cache folder holding recorded hashes (default: see :func:`~rossam_geo.weights.cache_dir`).

    Returns:
        A :class:`VerifyResult`; its ``ok`` is ``None`` when no hash is known for the file.

    Raises:
        WeightsError: ``path`` is not a file.
        InputError: ``expected_sha256`` is not a SHA-256.
    """
    file_path = Path(path).expanduser()
    if not file_path.is_file():
        raise WeightsError(f"no weights file at {file_path}; check the path")
    entry = entry_for_filename(file_path.name)
    if expected_sha256 is not None:
        expected = ExpectedHash(normalize_sha256(expected_sha256), "given")
    elif entry is not None:
        expected = expected_hash(entry, resolve_cache_dir(cache_dir))
    else:
        expected = ExpectedHash(None, "none")
    return VerifyResult(
        path=file_path,
        sha256=sha256_file(file_path),
        size_bytes=file_path.stat().st_size,
        expected_sha256=expected.sha256,
        hash_source=expected.source,
        entry_name=entry.name if entry is not None else None,
        expected_size_bytes=entry.size_bytes if entry is not None and expected.source != "given" else None,
    )
