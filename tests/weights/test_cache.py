"""The cache folder (flag, environment variable, default) and the recorded-hashes file."""

from __future__ import annotations

import json
from pathlib import Path

import platformdirs
import pytest

from rossam_geo.errors import WeightsError
from rossam_geo.weights import (
    KNOWN_HASHES_FILENAME,
    REGISTRY,
    cache_dir,
    cached_path,
    expected_hash,
    load_known_hashes,
)
from rossam_geo.weights.cache import record_known_hash
from tests.weights.conftest import cache_listing


def test_flag_beats_environment_variable_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path / "from-env"))
    assert cache_dir(tmp_path / "from-flag") == tmp_path / "from-flag"
    assert cache_dir() == tmp_path / "from-env"
    monkeypatch.delenv("ROSSAM_GEO_CACHE")
    assert cache_dir() == Path(platformdirs.user_cache_dir("rossam-geo")) / "weights"


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ROSSAM_GEO_CACHE", "~/w")
    assert cache_dir() == tmp_path / "w"


def test_cached_path_does_not_create_anything(tmp_path):
    assert cached_path("sam_hq_vit_h", tmp_path / "c") == tmp_path / "c" / "sam_hq_vit_h.pth"
    assert not (tmp_path / "c").exists()


def test_records_are_kept_per_file_and_written_atomically(tmp_path):
    record_known_hash(tmp_path, "sam_hq_vit_b.pth", "a" * 64, 10, "http://x/sam_hq_vit_b.pth")
    record_known_hash(tmp_path, "sam_hq_vit_l.pth", "b" * 64, 20, "http://x/sam_hq_vit_l.pth")

    records = load_known_hashes(tmp_path)
    assert {k: v["sha256"] for k, v in records.items()} == {
        "sam_hq_vit_b.pth": "a" * 64,
        "sam_hq_vit_l.pth": "b" * 64,
    }
    assert cache_listing(tmp_path) == [KNOWN_HASHES_FILENAME]
    assert "not published" in str(records["sam_hq_vit_b.pth"]["note"])


def test_expected_hash_prefers_published_then_recorded(tmp_path):
    assert expected_hash(REGISTRY["sam_vit_b"], tmp_path).source == "published"
    assert expected_hash(REGISTRY["sam_hq_vit_b"], tmp_path).source == "none"
    record_known_hash(tmp_path, "sam_hq_vit_b.pth", "c" * 64, 1, "u")
    recorded = expected_hash(REGISTRY["sam_hq_vit_b"], tmp_path)
    assert (recorded.sha256, recorded.source) == ("c" * 64, "recorded")
    assert recorded.label == "recorded locally on first download, not published"


@pytest.mark.parametrize("text", ["{not json", json.dumps({"sam_hq_vit_b.pth": "abc"})])
def test_damaged_records_file_is_reported(tmp_path, text):
    (tmp_path / KNOWN_HASHES_FILENAME).write_text(text)
    with pytest.raises(WeightsError, match=f"{KNOWN_HASHES_FILENAME}.*delete it and fetch"):
        load_known_hashes(tmp_path)
