"""The weights cache folder and the hashes recorded there for files without a published checksum."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from rossam_geo.errors import WeightsError
from rossam_geo.io.atomic import write_text_atomic
from rossam_geo.weights.registry import WeightsEntry, get_entry

#: environment variable naming the weights cache folder (the folder itself, not a parent).
CACHE_ENV = "ROSSAM_GEO_CACHE"
#: file in the cache folder recording the SHA-256 of first downloads of files without a published hash.
KNOWN_HASHES_FILENAME = "known_hashes.json"
#: suffix of partial downloads in the cache folder.
PART_SUFFIX = ".part"
#: sub-folder of the cache folder holding the lock files that serialize downloads and hash records.
LOCKS_DIRNAME = ".locks"

logger = logging.getLogger(__name__)

HashSource = Literal["published", "recorded", "given", "none"]

#: how each hash source is shown to users.
HASH_SOURCE_LABELS: dict[HashSource, str] = {
    "published": "published",
    "recorded": "recorded locally on first download, not published",
    "given": "given by the user",
    "none": "not published, none recorded yet",
}


def cache_dir(override: Path | str | None = None) -> Path:
    """Return the weights cache folder (not created here).

    Args:
        override: folder to use instead of the default (the ``--cache-dir`` flag).

    Returns:
        ``override`` if given, else the folder named by the environment variable ``ROSSAM_GEO_CACHE`` if set,
        else ``platformdirs.user_cache_dir("rossam-geo")/weights``; ``~`` is expanded.
    """
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    from_env = os.environ.get(CACHE_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("rossam-geo")) / "weights"


_cache_folder = cache_dir


def cached_path(name: str, cache_dir: Path | str | None = None) -> Path:
    """Return where the registry entry ``name`` lives in the cache folder, whether or not the file exists.

    Raises:
        WeightsError: ``name`` is not in the registry.
    """
    return _cache_folder(cache_dir) / get_entry(name).filename


@dataclass(frozen=True)
class ExpectedHash:
    """The SHA-256 a file should have and where that value comes from.

    Attributes:
        sha256: lowercase hex digest, or ``None`` when nothing is known.
        source: ``"published"`` (registry), ``"recorded"`` (first download, in ``known_hashes.json``),
            ``"given"`` (by the caller) or ``"none"``.
    """

    sha256: str | None
    source: HashSource

    @property
    def label(self) -> str:
        """Human-readable origin of the hash."""
        return HASH_SOURCE_LABELS[self.source]


@contextlib.contextmanager
def cache_lock(folder: Path, filename: str) -> Iterator[None]:
    """Hold the inter-process lock of ``filename`` in the cache ``folder`` (``<folder>/.locks/<name>.lock``).

    Processes that fetch the same checkpoint at once (several workers on one machine, or on machines that
    share the cache folder) take turns: the first downloads, the others then find the verified file. The
    lock is an OS file lock (``filelock``), released when its holder exits, even if it crashes.
    """
    import filelock

    locks = folder / LOCKS_DIRNAME
    locks.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(locks / f"{filename}.lock")
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        logger.info("waiting for another process that is fetching or recording %s in %s", filename, folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def known_hashes_path(folder: Path) -> Path:
    """Path of the recorded-hashes file in the cache ``folder``."""
    return folder / KNOWN_HASHES_FILENAME


def load_known_hashes(folder: Path) -> dict[str, dict[str, object]]:
    """Read the hashes recorded in the cache ``folder``: file name -> {"sha256", "size_bytes", ...}.

    Returns an empty mapping when nothing has been recorded.

    Raises:
        WeightsError: the file exists but is not valid JSON of the expected shape.
    """
    path = known_hashes_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WeightsError(
            f"{path} is not valid JSON ({exc}); delete it and fetch the files without a published hash again"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in data.values()
    ):
        raise WeightsError(
            f"{path} does not map file names to {{'sha256': ...}} records; delete it and fetch the files "
            "without a published hash again"
        )
    return data


def record_known_hash(folder: Path, filename: str, sha256: str, size_bytes: int, source_url: str) -> None:
    """Record the hash of a first complete download in the folder's ``known_hashes.json``, atomically."""
    with cache_lock(folder, KNOWN_HASHES_FILENAME):  # read-modify-write: one process at a time
        records = load_known_hashes(folder)
        records[filename] = {
            "sha256": sha256,
            "size_bytes": size_bytes,
            "source_url": source_url,
            "recorded_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "note": (
                "recorded locally on first use, not published (no SHA-256 has been published for this file)"
            ),
        }
        write_text_atomic(known_hashes_path(folder), json.dumps(records, indent=2, sort_keys=True) + "\n")


def expected_hash(entry: WeightsEntry, folder: Path) -> ExpectedHash:
    """The hash a copy of ``entry`` must have: the published one, else the one recorded in ``folder``."""
    if entry.sha256 is not None:
        return ExpectedHash(entry.sha256, "published")
    record = load_known_hashes(folder).get(entry.filename)
    if record is not None:
        return ExpectedHash(str(record["sha256"]), "recorded")
    return ExpectedHash(None, "none")
