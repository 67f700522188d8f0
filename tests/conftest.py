"""Repository-wide test settings. Area-specific fixtures live in each test folder's conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: ../shared/data beside the repository, present on development machines and in CI, absent elsewhere.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the shared real-data samples; skips the test cleanly when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_weights_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point the weights cache at a temporary folder so no test touches the user's cache."""
    monkeypatch.setenv("ROSSAM_GEO_CACHE", str(tmp_path_factory.getbasetemp() / "weights-cache"))
    os.environ.setdefault("OMP_NUM_THREADS", "2")
