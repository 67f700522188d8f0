"""verify(): hashes from the caller, the registry (by file name) or nowhere."""

from __future__ import annotations

import pytest

from rossam_geo.errors import InputError, WeightsError
from rossam_geo.weights import normalize_sha256, verify
from tests.weights.conftest import make_payload, sha256_bytes


def test_given_hash_matches_or_not(tmp_path):
    data = make_payload(seed=5, n_bytes=1000)
    path = tmp_path / "my_model.pth"
    path.write_bytes(data)

    good = verify(path, expected_sha256=sha256_bytes(data).upper())
    bad = verify(path, expected_sha256="0" * 64)

    assert (good.ok, good.hash_source, good.sha256, good.size_bytes) == (
        True,
        "given",
        sha256_bytes(data),
        1000,
    )
    assert bad.ok is False
    assert bad.describe() == (
        f"MISMATCH {path}: sha256 {sha256_bytes(data)}, expected {'0' * 64} (given by the user)"
    )


def test_registry_file_name_gives_published_hash_and_size(tmp_path, sam_entry, payload):
    path = tmp_path / sam_entry.filename
    path.write_bytes(payload)
    assert verify(path, cache_dir=tmp_path).ok is True
    assert verify(path, cache_dir=tmp_path).entry_name == "sam_vit_b"

    path.write_bytes(payload[:-10])
    short = verify(path, cache_dir=tmp_path)
    assert short.ok is False
    assert f"size {len(payload) - 10} bytes, expected {len(payload)};" in short.describe()


def test_unknown_file_is_unverified(tmp_path):
    path = tmp_path / "other.pth"
    path.write_bytes(b"x")
    result = verify(path)
    assert result.ok is None
    assert result.describe().startswith(f"UNVERIFIED {path}: sha256 {sha256_bytes(b'x')}; no SHA-256")


def test_hq_file_without_record_is_unverified_and_says_so(tmp_path, hq_entry):
    path = tmp_path / hq_entry.filename
    path.write_bytes(make_payload(seed=6, n_bytes=100))
    result = verify(path, cache_dir=tmp_path / "cache")
    assert result.ok is None
    assert "not published, none recorded yet" in result.describe()


def test_missing_file_and_bad_hash_are_rejected(tmp_path):
    with pytest.raises(WeightsError, match=f"no weights file at {tmp_path / 'absent.pth'}"):
        verify(tmp_path / "absent.pth")
    with pytest.raises(InputError, match="'xyz' is not a SHA-256; give 64 hexadecimal digits"):
        normalize_sha256("xyz")
