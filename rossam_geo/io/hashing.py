"""File hashing shared by the weights manager and checkpoint metadata (the file is read in chunks)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK_BYTES = 4 * 1024 * 1024


def sha256_file(path: str | Path) -> str:
    """Return the lowercase hex SHA-256 of the file at ``path``, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
