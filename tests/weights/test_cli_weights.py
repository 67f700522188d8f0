"""``rossam-geo weights list / fetch / verify / path`` through click's CliRunner."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from rossam_geo.cli import main
from tests.weights.conftest import make_payload, sha256_bytes


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_list_shows_every_entry_with_hash_origin(runner, cache):
    result = runner.invoke(main, ["weights", "list", "--cache-dir", str(cache)])

    assert result.exit_code == 0, result.output
    for name in ("sam_vit_b", "sam_vit_l", "sam_vit_h", "sam_hq_vit_b", "sam_hq_vit_l", "sam_hq_vit_h"):
        assert f"│ {name} " in result.stdout
    assert "ec2df62732614e57… (published)" in result.stdout
    assert len(re.findall(r"not published +│", result.stdout)) == 3 + 5  # three HQ hashes, five sizes
    assert str(cache / "sam_hq_vit_b.pth") in result.stdout
    assert "yes" not in result.stdout


def test_list_shows_partial_downloads(runner, cache):
    cache.mkdir()
    (cache / "sam_vit_h_4b8939.pth.part").write_bytes(b"\0" * 100_000)

    result = runner.invoke(main, ["weights", "list", "--cache-dir", str(cache)])

    assert re.search(r"│ sam_vit_h .*│ partial \(100\.0 kB\) *│", result.stdout)


def test_fetch_then_list_and_verify_report_a_locally_recorded_hash(runner, mirror, hq_entry, payload, cache):
    mirror.files[hq_entry.filename] = payload
    digest = sha256_bytes(payload)

    fetched = runner.invoke(main, ["weights", "fetch", "sam_hq_vit_b", "--cache-dir", str(cache)])
    listed = runner.invoke(main, ["weights", "list", "--cache-dir", str(cache)])
    verified = runner.invoke(main, ["weights", "verify", "--cache-dir", str(cache)])

    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.strip() == str(cache / hq_entry.filename)
    assert f"no SHA-256 has been published; recorded sha256 {digest} locally" in fetched.stderr
    assert f"{digest[:16]}… (recorded locally, not published)" in listed.stdout
    assert f"│ sam_hq_vit_b │ hq-sam │ vit_b │ not published │ {digest[:16]}" in listed.stdout
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.strip() == (
        f"OK {cache / hq_entry.filename}: sha256 {digest} (recorded locally on first download, not published)"
    )


def test_fetch_published_hash_and_flag_beats_environment(
    runner, monkeypatch, mirror, sam_entry, payload, tmp_path
):
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path / "env-cache"))
    mirror.files[sam_entry.filename] = payload

    result = runner.invoke(
        main, ["weights", "fetch", "sam_vit_b", "--cache-dir", str(tmp_path / "flag-cache")]
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "flag-cache" / sam_entry.filename)
    assert "matches the published hash" in result.stderr
    assert not (tmp_path / "env-cache").exists()


def test_fetch_failure_exits_non_zero_with_advice(runner, monkeypatch, closed_port_url, cache):
    monkeypatch.setenv("ROSSAM_GEO_WEIGHTS_URL", closed_port_url)

    result = runner.invoke(
        main, ["weights", "fetch", "sam_vit_l", "--cache-dir", str(cache), "--timeout", "2"]
    )

    assert result.exit_code == 1
    assert f"place it at {cache / 'sam_vit_l_0b3195.pth'}" in result.stderr
    assert "--weights PATH" in result.stderr


def test_verify_all_exits_non_zero_on_a_mismatch(runner, sam_entry, payload, cache):
    cache.mkdir()
    (cache / sam_entry.filename).write_bytes(payload)
    (cache / "sam_hq_vit_l.pth").write_bytes(make_payload(seed=7, n_bytes=64))

    good = runner.invoke(main, ["weights", "verify", "--cache-dir", str(cache)])
    (cache / sam_entry.filename).write_bytes(make_payload(seed=8))
    bad = runner.invoke(main, ["weights", "verify", "--cache-dir", str(cache)])

    assert good.exit_code == 0, good.output
    assert good.stdout.splitlines()[0].startswith(
        f"OK {cache / sam_entry.filename}: sha256 {sam_entry.sha256}"
    )
    assert good.stdout.splitlines()[1].startswith(f"UNVERIFIED {cache / 'sam_hq_vit_l.pth'}")
    assert bad.exit_code == 1
    assert bad.stdout.startswith(f"MISMATCH {cache / sam_entry.filename}")
    assert "1 file(s) failed verification" in bad.stderr


def test_verify_path_with_explicit_hash(runner, tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"abc")

    ok = runner.invoke(main, ["weights", "verify", str(path), "--sha256", sha256_bytes(b"abc")])
    bad = runner.invoke(main, ["weights", "verify", str(path), "--sha256", "1" * 64])
    malformed = runner.invoke(main, ["weights", "verify", str(path), "--sha256", "abc"])

    assert ok.exit_code == 0 and ok.stdout.startswith(f"OK {path}")
    assert bad.exit_code == 1
    assert malformed.exit_code == 1 and "'abc' is not a SHA-256" in malformed.stderr


def test_verify_with_empty_cache(runner, cache):
    result = runner.invoke(main, ["weights", "verify", "--cache-dir", str(cache)])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no registered weights are cached in {cache}"


def test_path_prints_cache_location_from_flag_or_environment(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path / "env"))

    from_env = runner.invoke(main, ["weights", "path", "sam_vit_h"])
    from_flag = runner.invoke(main, ["weights", "path", "sam_vit_h", "--cache-dir", str(tmp_path / "flag")])
    unknown = runner.invoke(main, ["weights", "path", "sam_vit_q"])

    assert from_env.stdout.strip() == str(tmp_path / "env" / "sam_vit_h_4b8939.pth")
    assert from_flag.stdout.strip() == str(tmp_path / "flag" / "sam_vit_h_4b8939.pth")
    assert unknown.exit_code == 1 and "unknown weights 'sam_vit_q'" in unknown.stderr
    assert not (tmp_path / "env").exists()


def test_cli_module_imports_no_heavy_dependencies():
    import subprocess
    import sys

    code = (
        "import sys, rossam_geo.cli.weights; "
        "print(sorted(m for m in ('torch', 'rich', 'rasterio', 'geopandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_fetch_with_a_url_that_is_not_one_is_a_one_line_error(runner, cache):
    result = runner.invoke(
        main, ["weights", "fetch", "sam_vit_b", "--url", "notaurl", "--cache-dir", str(cache)]
    )

    assert result.exit_code == 1
    assert result.output == (
        "Error: --url 'notaurl' is not a download URL; give a full https://, http:// or file:// URL, e.g. "
        "https://example.org/weights/sam_vit_b_01ec64.pth\n"
    )
    assert not cache.exists()
