"""Fixtures of the video tests: a generated georeferenced sequence with MOT annotations."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video.sequence import TrackTruth, make_sequence, write_mot


@pytest.fixture(scope="session")
def sequence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[TrackTruth]]:
    """(frames folder, MOT file, truth) of a 10-frame UTM sequence with 2 moving objects."""
    root = tmp_path_factory.mktemp("sequence")
    truth = make_sequence(root / "frames", 10)
    return root / "frames", write_mot(root / "gt.txt", truth), truth


@pytest.fixture
def test_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only engines of tests/video/engines.py in this process."""
    from rossam_geo.engines import ENGINE_FACTORIES
    from tests.video.engines import TEST_ENGINES

    for name, target in TEST_ENGINES.items():
        monkeypatch.setitem(ENGINE_FACTORIES, name, target)
