"""Official SAM / HQ-SAM checkpoints: registry, cache folder, verified resumable downloads.

``resolve_weights`` turns a ``--weights`` value (path or registry name) into a file; ``fetch`` downloads a
registry checkpoint into the cache; ``verify`` checks a file's SHA-256 against the published hash or, for
files without one, against the hash recorded on first download.
"""

from __future__ import annotations

from rossam_geo.weights.cache import (
    CACHE_ENV,
    KNOWN_HASHES_FILENAME,
    PART_SUFFIX,
    ExpectedHash,
    cache_dir,
    cached_path,
    expected_hash,
    known_hashes_path,
    load_known_hashes,
)
from rossam_geo.weights.download import DEFAULT_TIMEOUT_S, WEIGHTS_URL_ENV, fetch, source_url
from rossam_geo.weights.registry import REGISTRY, WeightsEntry, entry_for_filename, get_entry
from rossam_geo.weights.resolve import resolve_weights
from rossam_geo.weights.verify import VerifyResult, normalize_sha256, verify

__all__ = [
    "CACHE_ENV",
    "DEFAULT_TIMEOUT_S",
    "KNOWN_HASHES_FILENAME",
    "PART_SUFFIX",
    "REGISTRY",
    "WEIGHTS_URL_ENV",
    "ExpectedHash",
    "VerifyResult",
    "WeightsEntry",
    "cache_dir",
    "cached_path",
    "entry_for_filename",
    "expected_hash",
    "fetch",
    "get_entry",
    "known_hashes_path",
    "load_known_hashes",
    "normalize_sha256",
    "resolve_weights",
    "source_url",
    "verify",
]
