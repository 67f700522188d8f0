"""Fixtures of the Dask tests: a generated sequence and a 2-worker LocalCluster on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video.sequence import TrackTruth, make_sequence, write_mot


@pytest.fixture(scope="module")
def sequence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[TrackTruth]]:
    """(frames folder, MOT file, truth) of a 10-frame UTM sequence with 2 moving objects."""
    root = tmp_path_factory.mktemp("sequence")
    truth = make_sequence(root / "frames", 10)
    return root / "frames", write_mot(root / "gt.txt", truth), truth


@pytest.fixture(scope="module")
def client():
    """A client of a 2-worker local cluster (processes, 1 thread each, 127.0.0.1) knowing the test engines."""
    from rossam_geo.distributed import connect
    from tests.distributed.plugins import TestEnginesPlugin

    with connect("local:2") as dask_client:
        dask_client.register_plugin(TestEnginesPlugin())
        yield dask_client
