"""resolve_weights(): paths pass through, registry names map to the cache."""

from __future__ import annotations

import re

import pytest

from rossam_geo.errors import WeightsError
from rossam_geo.weights import resolve_weights


def test_existing_file_is_returned_as_is(tmp_path):
    path = tmp_path / "custom.pth"
    path.write_bytes(b"x")
    assert resolve_weights(path) == path
    assert resolve_weights(str(path)) == path


def test_existing_folder_is_returned_as_is(tmp_path):
    assert resolve_weights(tmp_path) == tmp_path


def test_cached_name_resolves_without_network(sam_entry, payload, cache):
    cache.mkdir()
    (cache / sam_entry.filename).write_bytes(payload)
    assert resolve_weights("sam_vit_b", cache_dir=cache) == cache / sam_entry.filename
    assert resolve_weights(sam_entry.filename, cache_dir=cache) == cache / sam_entry.filename


def test_uncached_name_says_how_to_fetch_or_pass_a_path(cache):
    with pytest.raises(
        WeightsError,
        match=re.escape(
            f"weights 'sam_hq_vit_h' are not in the cache (expected at {cache / 'sam_hq_vit_h.pth'}); "
            "download them with `rossam-geo weights fetch sam_hq_vit_h`, or pass `--weights PATH`"
        ),
    ):
        resolve_weights("sam_hq_vit_h", cache_dir=cache)


def test_download_true_fetches_into_the_cache(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    path = resolve_weights("sam_vit_b", cache_dir=cache, download=True)
    assert path == cache / sam_entry.filename
    assert path.read_bytes() == payload


def test_cache_from_environment_variable(monkeypatch, sam_entry, payload, tmp_path):
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path / "env-cache"))
    (tmp_path / "env-cache").mkdir()
    (tmp_path / "env-cache" / sam_entry.filename).write_bytes(payload)
    assert resolve_weights("sam_vit_b") == tmp_path / "env-cache" / sam_entry.filename


def test_truncated_cached_file_is_refused(sam_entry, payload, cache):
    cache.mkdir()
    (cache / sam_entry.filename).write_bytes(payload[:1000])
    with pytest.raises(WeightsError, match="has 1000 bytes instead of .*weights fetch sam_vit_b --force"):
        resolve_weights("sam_vit_b", cache_dir=cache)


def test_neither_path_nor_name(tmp_path):
    with pytest.raises(WeightsError, match="'nothing/here.pth' is neither an existing file nor a registered"):
        resolve_weights("nothing/here.pth", cache_dir=tmp_path)
