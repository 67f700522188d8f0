"""A dask worker plugin registering the test-only engines in every worker, restarted ones included."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin


class TestEnginesPlugin(WorkerPlugin):
    """Adds tests/video/engines.py's engines to the worker's engine registry."""

    name = "rossam-test-engines"

    def setup(self, worker: object) -> None:
        from rossam_geo.engines import ENGINE_FACTORIES
        from tests.video.engines import TEST_ENGINES

        ENGINE_FACTORIES.update(TEST_ENGINES)
