"""Turning a ``--weights`` value (a path or a registry name) into a checkpoint file."""

from __future__ import annotations

from pathlib import Path

from rossam_geo.errors import WeightsError
from rossam_geo.weights.cache import cache_dir as resolve_cache_dir
from rossam_geo.weights.download import fetch
from rossam_geo.weights.registry import REGISTRY, entry_for_filename


def resolve_weights(
    name_or_path: str | Path, cache_dir: Path | str | None = None, download: bool = False
) -> Path:
    """Return the checkpoint file meant by ``name_or_path``.

    An existing file path is returned as is (``~`` expanded). A registry name (``"sam_vit_b"``) or official
    file name gives the file in the cache folder, downloaded and verified first when ``download`` is true. An
    existing folder (a training-run checkpoint folder) is returned as is. A cached file is checked against the
    published size only; ``rossam-geo weights verify`` checks hashes.

    Args:
        name_or_path: a file path, a registry name or an official file name.
        cache_dir: cache folder (default: see :func:`~rossam_geo.weights.cache_dir`).
        download: fetch a registry checkpoint that is not cached yet.

    Returns:
        Path of the checkpoint file (or folder).

    Raises:
        WeightsError: nothing exists under that path and it is not a registry name, or the named checkpoint is
            not cached (and ``download`` is false), or the cached copy has the wrong size.
        DownloadError: ``download`` is true and the download fails.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    text = str(name_or_path)
    entry = REGISTRY.get(text) or entry_for_filename(text)
    if entry is not None:
        target = resolve_cache_dir(cache_dir) / entry.filename
        if target.is_file():
            size = target.stat().st_size
            if entry.size_bytes is not None and size != entry.size_bytes:
                raise WeightsError(
                    f"the cached {target} has {size} bytes instead of {entry.size_bytes}; download it again "
                    f"with `rossam-geo weights fetch {entry.name} --force`"
                )
            return target
        if download:
            return fetch(entry.name, cache_dir=cache_dir)
        raise WeightsError(
            f"weights {entry.name!r} are not in the cache (expected at {target}); download them with "
            f"`rossam-geo weights fetch {entry.name}`, or pass `--weights PATH` with the path of a local "
            f"copy of {entry.filename}"
        )
    if candidate.is_dir():
        return candidate
    raise WeightsError(
        f"{text!r} is neither an existing file nor a registered weights name ({', '.join(REGISTRY)}); "
        "pass the path of a checkpoint file, or download a registered one with "
        "`rossam-geo weights fetch NAME`"
    )
