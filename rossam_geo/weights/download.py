"""Downloading checkpoints into the cache: resumable, verified, atomically renamed into place."""

from __future__ import annotations

import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rossam_geo import __version__
from rossam_geo.errors import ChecksumError, DownloadError
from rossam_geo.io.hashing import sha256_file
from rossam_geo.validate import check_download_url
from rossam_geo.weights.cache import (
    PART_SUFFIX,
    ExpectedHash,
    cache_lock,
    expected_hash,
    known_hashes_path,
    record_known_hash,
)
from rossam_geo.weights.cache import cache_dir as resolve_cache_dir
from rossam_geo.weights.registry import WeightsEntry, get_entry
from rossam_geo.weights.verify import verify

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

logger = logging.getLogger(__name__)

#: environment variable giving a mirror base URL; files are fetched from ``<base>/<filename>``.
WEIGHTS_URL_ENV = "ROSSAM_GEO_WEIGHTS_URL"
#: seconds to wait for a connection or for the next block of data.
DEFAULT_TIMEOUT_S = 30.0
_CHUNK_BYTES = 1024 * 1024
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE_RE = re.compile(r"bytes\s+\*/(\d+)")
#: first bytes of a PyTorch checkpoint: a zip archive (torch >= 1.6) or a pickle (legacy format).
_CHECKPOINT_MAGICS = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def source_url(entry: WeightsEntry, url: str | None = None) -> str:
    """The URL to download ``entry`` from: ``url`` if given, else ``$ROSSAM_GEO_WEIGHTS_URL/<filename>``, else
    the official URL."""
    if url:
        return url
    base = os.environ.get(WEIGHTS_URL_ENV, "").strip()
    if base:
        return f"{base.rstrip('/')}/{entry.filename}"
    return entry.url


def fetch(
    name: str,
    cache_dir: Path | str | None = None,
    url: str | None = None,
    progress: bool = True,
    force: bool = False,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Download the registry checkpoint ``name`` into the cache folder and verify it.

    A partial download (``<file>.part``) left by an interrupted run is resumed with an HTTP Range request
    (restarted from zero when the server answers with the whole file). The finished file's size and SHA-256
    are checked before it is renamed into place. For files without a published SHA-256 the hash of the first
    complete download is recorded in ``known_hashes.json`` in the cache folder and later downloads must match
    it. A cached file that verifies is returned without any request. Processes fetching the same file at
    once take turns through a lock file in ``<cache>/.locks``: one downloads, the others then find its
    verified copy.

    Args:
        name: registry name (``"sam_vit_b"``) or official file name.
        cache_dir: cache folder (default: see :func:`~rossam_geo.weights.cache_dir`).
        url: full URL of the file, replacing the mirror base and the official URL.
        progress: show a progress bar on stderr (only when stderr is a terminal).
        force: download again even when a verified copy is cached.
        timeout_s: seconds to wait for the connection and for each block of data.

    Returns:
        Path of the verified file in the cache folder.

    Raises:
        WeightsError: ``name`` is not in the registry.
        InputError: the URL is neither http(s):// with a host nor file:// (checked before any request).
        DownloadError: the server cannot be reached, answers with an error, or the transfer is cut short
            (the partial file is kept for resuming).
        ChecksumError: the downloaded file's SHA-256 differs from the expected one (the download is deleted).
    """
    entry = get_entry(name)
    src = check_download_url(source_url(entry, url), option="url" if url else f"URL from ${WEIGHTS_URL_ENV}")
    folder = resolve_cache_dir(cache_dir)
    target = folder / entry.filename
    part = folder / (entry.filename + PART_SUFFIX)
    with cache_lock(folder, entry.filename):
        if force:
            part.unlink(missing_ok=True)
        elif target.is_file() and _cached_copy_is_usable(entry, target, folder):
            return target
        return _download_and_verify(entry, src, part, target, folder, timeout_s=timeout_s, progress=progress)


def _download_and_verify(
    entry: WeightsEntry, src: str, part: Path, target: Path, folder: Path, *, timeout_s: float, progress: bool
) -> Path:
    """Download ``src`` into ``part``, check it and rename it to ``target`` (under the file's cache lock)."""
    _download_to_part(entry, src, part, target, timeout_s=timeout_s, show_progress=progress)
    expected = expected_hash(entry, folder)
    found = sha256_file(part)
    if expected.sha256 is not None and found != expected.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(_checksum_message(entry, src, expected, found, folder))
    if expected.sha256 is None and not _looks_like_checkpoint(part):
        part.unlink()
        raise DownloadError(
            f"the file downloaded from {src} is not a PyTorch checkpoint, so its hash was not recorded "
            f"and it was deleted; check the URL or the mirror set in {WEIGHTS_URL_ENV}"
        )
    os.replace(part, target)
    if expected.sha256 is None:
        record_known_hash(folder, entry.filename, found, target.stat().st_size, src)
        logger.info("recorded sha256 %s of %s (no published hash)", found, target)
    return target


def _cached_copy_is_usable(entry: WeightsEntry, target: Path, folder: Path) -> bool:
    """True when the cached ``target`` verifies (recording its hash on first use); a bad copy is deleted."""
    result = verify(target, cache_dir=folder)
    if result.ok:
        return True
    if result.ok is None and _looks_like_checkpoint(target):
        # A copy placed in the cache by hand, never recorded: trust it on first use like a download.
        record_known_hash(folder, entry.filename, result.sha256, result.size_bytes, f"placed at {target}")
        return True
    logger.warning("%s; deleting it and downloading again", result.describe())
    target.unlink()
    return False


def _download_to_part(
    entry: WeightsEntry, url: str, part: Path, target: Path, *, timeout_s: float, show_progress: bool
) -> None:
    """Stream ``url`` into ``part``, resuming from its current size where the server allows it."""
    expected_size = entry.size_bytes
    for _attempt in range(3):
        offset = part.stat().st_size if part.is_file() else 0
        if expected_size is not None and offset > expected_size:
            part.unlink()
            offset = 0
        headers = {"User-Agent": f"rossam-geo/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                match = _UNSATISFIED_RANGE_RE.search(exc.headers.get("Content-Range", "") or "")
                if match is not None and int(match.group(1)) == offset:
                    return  # the partial file is already complete
                part.unlink()  # not a prefix the server can continue: start again
                continue
            raise DownloadError(
                f"the server answered HTTP {exc.code} ({exc.reason}) for {url}; "
                + _offline_advice(entry, target, part)
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"could not download {entry.filename} from {url}: {_reason(exc)}. "
                + _offline_advice(entry, target, part)
            ) from None
        with response:
            status = getattr(response, "status", None)
            if offset and status == 206:
                match = _CONTENT_RANGE_RE.search(response.headers.get("Content-Range", "") or "")
                if match is None or int(match.group(1)) != offset:
                    part.unlink()  # the server resumed elsewhere than asked: start again
                    continue
                total = None if match.group(3) == "*" else int(match.group(3))
            else:
                offset = 0  # whole file (the server ignored the Range request, or none was sent)
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            if expected_size is not None and total is not None and total != expected_size:
                raise DownloadError(
                    f"{url} offers {total} bytes but {entry.filename} has {expected_size} bytes; check the "
                    f"URL or the mirror set in {WEIGHTS_URL_ENV}"
                )
            total = total if total is not None else expected_size
            part.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "ab" if offset else "wb") as f:
                _stream(response, f, url, entry, part, target, offset, total, show_progress)
        size = part.stat().st_size
        if total is not None and size < total:
            raise DownloadError(
                f"the download of {entry.filename} from {url} stopped after {size} of {total} bytes. "
                + _offline_advice(entry, target, part)
            )
        if total is not None and size > total:
            part.unlink()
            raise DownloadError(
                f"{url} sent {size} bytes, more than the {total} announced; the partial file was deleted, "
                "try again"
            )
        return
    raise DownloadError(f"{url} did not answer a resumable request consistently; try again with --force")


def _stream(
    response: Any,
    f: IO[bytes],
    url: str,
    entry: WeightsEntry,
    part: Path,
    target: Path,
    offset: int,
    total: int | None,
    show_progress: bool,
) -> None:
    """Copy ``response`` into ``f`` block by block, advancing a progress bar."""
    bar, task = _progress_bar(entry.filename, offset, total, show_progress)
    # read1 returns the bytes already received, so a stall loses nothing that arrived before it.
    read = getattr(response, "read1", response.read)
    try:
        with bar:
            while True:
                chunk = read(_CHUNK_BYTES)
                if not chunk:
                    break
                f.write(chunk)
                bar.advance(task, len(chunk))
    except (OSError, http.client.HTTPException) as exc:
        f.flush()
        raise DownloadError(
            f"the download of {entry.filename} from {url} was interrupted ({_reason(exc)}). "
            + _offline_advice(entry, target, part)
        ) from None
    f.flush()
    os.fsync(f.fileno())


def _progress_bar(filename: str, offset: int, total: int | None, enabled: bool) -> tuple[Progress, TaskID]:
    """A rich progress bar on stderr, disabled when not wanted or stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
    )
    task = bar.add_task(filename, total=total, completed=offset)
    return bar, task


def _reason(exc: BaseException) -> str:
    """The most specific text of a network error."""
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _offline_advice(entry: WeightsEntry, target: Path, part: Path) -> str:
    """How to get the file in place without this download."""
    kept = ""
    if part.is_file() and part.stat().st_size > 0:
        kept = (
            f"A partial download ({part.stat().st_size} bytes) is kept at {part}; run "
            f"`rossam-geo weights fetch {entry.name}` again to resume. "
        )
    return (
        f"{kept}Without network access, download {entry.url} by other means and place it at {target} "
        f"(check it with `rossam-geo weights verify {target}`), or pass `--weights PATH` with the path of a "
        f"local copy of {entry.filename}."
    )


def _checksum_message(entry: WeightsEntry, url: str, expected: ExpectedHash, found: str, folder: Path) -> str:
    message = (
        f"checksum mismatch for {entry.filename} downloaded from {url}: expected sha256 {expected.sha256} "
        f"({expected.label}), found {found}; the download was deleted. "
    )
    if expected.source == "recorded":
        return message + (
            f"The expected hash was recorded on the first download, not published; if the file was updated "
            f"upstream, remove its entry from {known_hashes_path(folder)} and fetch again."
        )
    return message + f"Check the URL or the mirror set in {WEIGHTS_URL_ENV}, then fetch again."


def _looks_like_checkpoint(path: Path) -> bool:
    """True when ``path`` starts like a PyTorch checkpoint (zip or pickle), not like an HTML error page."""
    with open(path, "rb") as f:
        head = f.read(8)
    return head.startswith(_CHECKPOINT_MAGICS)
