"""fetch(): download, resume, restart, checksum failures and offline errors against a local HTTP server."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from rossam_geo.errors import ChecksumError, DownloadError, InputError, WeightsError
from rossam_geo.weights import KNOWN_HASHES_FILENAME, fetch, load_known_hashes, source_url, verify
from rossam_geo.weights.cache import record_known_hash
from tests.weights.conftest import PAYLOAD_BYTES, cache_listing, make_payload, sha256_bytes


def test_fetch_downloads_verifies_and_renames_atomically(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload

    path = fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert path == cache / sam_entry.filename
    assert path.read_bytes() == payload
    assert cache_listing(cache) == [sam_entry.filename]  # no .part, no temp files
    assert [(r.path, r.range_header) for r in mirror.requests] == [(f"/{sam_entry.filename}", None)]


def test_cached_verified_file_is_not_downloaded_again(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    first = fetch("sam_vit_b", cache_dir=cache, progress=False)
    mirror.files.clear()  # a second download would now fail with 404

    second = fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert second == first
    assert len(mirror.requests) == 1


def test_corrupted_cached_file_is_downloaded_again(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    cache.mkdir()
    (cache / sam_entry.filename).write_bytes(make_payload(seed=1))

    path = fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert path.read_bytes() == payload
    assert len(mirror.requests) == 1


def test_force_downloads_again(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    fetch("sam_vit_b", cache_dir=cache, progress=False)

    fetch("sam_vit_b", cache_dir=cache, progress=False, force=True)

    assert len(mirror.requests) == 2


def test_checksum_mismatch_names_both_hashes_and_leaves_nothing(mirror, sam_entry, payload, cache):
    served = make_payload(seed=1)  # same size, different bytes
    mirror.files[sam_entry.filename] = served

    with pytest.raises(
        ChecksumError,
        match=f"expected sha256 {sam_entry.sha256} \\(published\\), found "
        f"{sha256_bytes(served)}; the download was deleted",
    ):
        fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert cache_listing(cache) == []


def test_interrupted_download_keeps_part_and_resumes_with_range(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    mirror.cut_after_bytes = 100_000
    part = cache / f"{sam_entry.filename}.part"

    with pytest.raises(
        DownloadError,
        match=f"stopped after 100000 of {PAYLOAD_BYTES} bytes.*"
        f"partial download \\(100000 bytes\\) is kept at {re.escape(str(part))}",
    ):
        fetch("sam_vit_b", cache_dir=cache, progress=False)
    assert part.stat().st_size == 100_000
    assert not (cache / sam_entry.filename).exists()

    path = fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert mirror.requests[1].range_header == "bytes=100000-"
    assert path.read_bytes() == payload
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    mirror.cut_after_bytes = 70_000
    with pytest.raises(DownloadError):
        fetch("sam_vit_b", cache_dir=cache, progress=False)
    mirror.ignore_range = True

    path = fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert mirror.requests[1].range_header == "bytes=70000-"  # asked to resume, answered 200
    assert path.read_bytes() == payload  # appended instead of restarted would be 70,000 bytes too long
    assert cache_listing(cache) == [sam_entry.filename]


def test_complete_part_answered_416_is_finished_without_body(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    cache.mkdir()
    (cache / f"{sam_entry.filename}.part").write_bytes(payload)

    path = fetch("sam_vit_b", cache_dir=cache, progress=False)

    assert [r.range_header for r in mirror.requests] == [f"bytes={len(payload)}-"]
    assert path.read_bytes() == payload


def test_unreachable_server_names_cache_path_url_and_weights_option(
    monkeypatch, closed_port_url, sam_entry, cache
):
    monkeypatch.setenv("ROSSAM_GEO_WEIGHTS_URL", closed_port_url)
    target = cache / sam_entry.filename

    with pytest.raises(DownloadError) as excinfo:
        fetch("sam_vit_b", cache_dir=cache, progress=False)

    message = str(excinfo.value)
    assert f"place it at {target}" in message
    assert f"download {sam_entry.url} by other means" in message
    assert "pass `--weights PATH`" in message
    assert "Connection refused" in message
    assert cache_listing(cache) == []  # no partial file when nothing could be fetched (only the locks)


def test_silent_server_times_out(monkeypatch, sam_entry, cache):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the TCP connection in the backlog, never answers
        monkeypatch.setenv("ROSSAM_GEO_WEIGHTS_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")

        with pytest.raises(DownloadError, match="timed out"):
            fetch("sam_vit_b", cache_dir=cache, progress=False, timeout_s=0.3)


def test_stalled_transfer_times_out_and_keeps_the_part(mirror, sam_entry, payload, cache):
    mirror.files[sam_entry.filename] = payload
    mirror.cut_after_bytes, mirror.stall_s = 50_000, 1.0

    with pytest.raises(DownloadError, match=r"was interrupted \(timed out\)\. A partial download"):
        fetch("sam_vit_b", cache_dir=cache, progress=False, timeout_s=0.2)

    assert (cache / f"{sam_entry.filename}.part").stat().st_size == 50_000


def test_http_error_status_is_reported(mirror, sam_entry, cache):
    with pytest.raises(DownloadError, match=r"HTTP 404 \(Not Found\)"):
        fetch("sam_vit_b", cache_dir=cache, progress=False)


def test_server_offering_wrong_size_is_refused(mirror, sam_entry, cache):
    mirror.files[sam_entry.filename] = make_payload(seed=2, n_bytes=1000)

    with pytest.raises(
        DownloadError, match=f"offers 1000 bytes but {sam_entry.filename} has {PAYLOAD_BYTES}"
    ):
        fetch("sam_vit_b", cache_dir=cache, progress=False)
    assert not (cache / sam_entry.filename).exists()


def test_unknown_name_is_rejected(cache):
    with pytest.raises(WeightsError, match="unknown weights 'sam_vit_x'; choose one of: sam_vit_b"):
        fetch("sam_vit_x", cache_dir=cache)


def test_url_argument_and_mirror_variable_choose_the_source(monkeypatch, sam_entry):
    monkeypatch.delenv("ROSSAM_GEO_WEIGHTS_URL", raising=False)
    assert source_url(sam_entry) == sam_entry.url
    monkeypatch.setenv("ROSSAM_GEO_WEIGHTS_URL", "http://mirror.example/sam/")
    assert source_url(sam_entry) == f"http://mirror.example/sam/{sam_entry.filename}"
    assert source_url(sam_entry, "http://other.example/x.pth") == "http://other.example/x.pth"


def test_urls_that_are_not_download_urls_are_refused_before_any_request(monkeypatch, cache):
    with pytest.raises(InputError, match=r"^url 'notaurl' is not a download URL; give a full https://"):
        fetch("sam_vit_b", cache_dir=cache, url="notaurl", progress=False)
    monkeypatch.setenv("ROSSAM_GEO_WEIGHTS_URL", "mirror.example/sam")
    with pytest.raises(InputError, match=r"^URL from \$ROSSAM_GEO_WEIGHTS_URL 'mirror.example/sam/sam_vit_b"):
        fetch("sam_vit_b", cache_dir=cache, progress=False)
    assert not cache.exists()


def test_file_url_from_a_local_mirror(tmp_path, sam_entry, payload, cache):
    copy = tmp_path / "mirror" / sam_entry.filename
    copy.parent.mkdir()
    copy.write_bytes(payload)

    path = fetch("sam_vit_b", cache_dir=cache, url=copy.as_uri(), progress=False)

    assert path.read_bytes() == payload


def test_progress_bar_goes_to_stderr_only_when_enabled(
    monkeypatch, capsys, mirror, sam_entry, payload, cache
):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    mirror.files[sam_entry.filename] = payload

    fetch("sam_vit_b", cache_dir=cache, progress=False)
    assert capsys.readouterr().err == ""

    fetch("sam_vit_b", cache_dir=cache, progress=True, force=True)
    captured = capsys.readouterr()
    assert sam_entry.filename in captured.err
    assert captured.out == ""


class TestTrustOnFirstUse:
    """HQ-SAM files have no published SHA-256: the first complete download's hash is recorded."""

    def test_first_download_records_hash(self, mirror, hq_entry, payload, cache):
        mirror.files[hq_entry.filename] = payload

        path = fetch("sam_hq_vit_b", cache_dir=cache, progress=False)

        records = json.loads((cache / KNOWN_HASHES_FILENAME).read_text())
        assert records[hq_entry.filename]["sha256"] == sha256_bytes(payload)
        assert records[hq_entry.filename]["size_bytes"] == len(payload)
        assert records[hq_entry.filename]["source_url"] == f"{mirror.base_url}/{hq_entry.filename}"
        result = verify(path, cache_dir=cache)
        assert result.ok is True
        assert result.hash_source == "recorded"
        assert "recorded locally on first download, not published" in result.describe()

    def test_later_download_must_match_recorded_hash(self, mirror, hq_entry, payload, cache):
        mirror.files[hq_entry.filename] = payload
        path = fetch("sam_hq_vit_b", cache_dir=cache, progress=False)
        changed = make_payload(seed=3)
        mirror.files[hq_entry.filename] = changed

        with pytest.raises(
            ChecksumError,
            match=f"expected sha256 {sha256_bytes(payload)} \\(recorded locally"
            f".*found {sha256_bytes(changed)}.*remove its entry from "
            f"{re.escape(str(cache / KNOWN_HASHES_FILENAME))}",
        ):
            fetch("sam_hq_vit_b", cache_dir=cache, progress=False, force=True)

        assert path.read_bytes() == payload  # the verified copy was never replaced
        assert load_known_hashes(cache)[hq_entry.filename]["sha256"] == sha256_bytes(payload)

    def test_tampered_cached_copy_fails_verification(self, mirror, hq_entry, payload, cache):
        mirror.files[hq_entry.filename] = payload
        path = fetch("sam_hq_vit_b", cache_dir=cache, progress=False)
        path.write_bytes(payload[:-1] + b"\x00")

        result = verify(path, cache_dir=cache)

        assert result.ok is False
        assert result.describe().startswith(f"MISMATCH {path}:")

    def test_error_page_is_not_recorded(self, mirror, hq_entry, cache):
        mirror.files[hq_entry.filename] = b"<!DOCTYPE html><html>rate limited</html>"

        with pytest.raises(DownloadError, match="is not a PyTorch checkpoint, so its hash was not recorded"):
            fetch("sam_hq_vit_b", cache_dir=cache, progress=False)

        assert cache_listing(cache) == []

    def test_copy_placed_by_hand_is_recorded_without_download(
        self, file_server, monkeypatch, hq_entry, cache
    ):
        monkeypatch.setenv("ROSSAM_GEO_WEIGHTS_URL", file_server.base_url)
        placed = make_payload(seed=4)
        cache.mkdir()
        (cache / hq_entry.filename).write_bytes(placed)

        path = fetch("sam_hq_vit_b", cache_dir=cache, progress=False)

        assert file_server.requests == []
        assert path.read_bytes() == placed
        assert load_known_hashes(cache)[hq_entry.filename]["sha256"] == sha256_bytes(placed)


def test_fetch_leaves_no_temporary_files(mirror, hq_entry, payload, cache: Path):
    mirror.files[hq_entry.filename] = payload
    fetch("sam_hq_vit_b", cache_dir=cache, progress=False)
    assert cache_listing(cache) == sorted([hq_entry.filename, KNOWN_HASHES_FILENAME])


def test_concurrent_fetches_take_turns_and_download_once(mirror, hq_entry, payload, cache):
    mirror.files[hq_entry.filename] = payload
    mirror.delay_s = 0.5  # the first download is still running when the others start
    results: list[Path | BaseException] = []

    def worker() -> None:
        try:
            results.append(fetch("sam_hq_vit_b", cache_dir=cache, progress=False))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=30)

    assert results == [cache / hq_entry.filename] * 3
    assert len(mirror.requests) == 1  # the others waited, then found the verified copy
    assert (cache / hq_entry.filename).read_bytes() == payload
    assert load_known_hashes(cache)[hq_entry.filename]["sha256"] == sha256_bytes(payload)
    assert cache_listing(cache) == sorted([hq_entry.filename, KNOWN_HASHES_FILENAME])


def test_hash_records_of_different_files_made_at_once_are_all_kept(cache):
    names = [f"file_{i}.pth" for i in range(8)]
    threads = [
        threading.Thread(target=record_known_hash, args=(cache, name, f"{i:064x}", i, "http://127.0.0.1/x"))
        for i, name in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(load_known_hashes(cache)) == names
