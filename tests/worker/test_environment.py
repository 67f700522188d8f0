"""The ``environment`` request: engines and what they need, weights cache state, devices."""

from __future__ import annotations

import sys
from pathlib import Path

from rossam_geo.engines import engine_names
from rossam_geo.weights import REGISTRY
from rossam_geo.worker.environment import describe_environment
from tests.worker.conftest import WorkerProcess


def test_engines_say_what_they_need_and_whether_it_is_there(tmp_path: Path):
    (tmp_path / REGISTRY["sam_vit_b"].filename).write_bytes(b"")  # cached (content is not checked here)
    described = describe_environment(cache_dir=tmp_path)

    engines = {e["name"]: e for e in described["engines"]}
    assert list(engines) == engine_names()
    assert engines["box"] == {
        "name": "box",
        "needs": "nothing",
        "default_weights": None,
        "ready": True,
        "detail": "",
    }
    assert engines["grabcut"]["needs"] == "nothing"
    assert engines["rossam"]["needs"] == "bundled" and engines["rossam"]["ready"] is True
    assert engines["rossam"]["default_weights"].startswith("rossam-compact")
    assert engines["sam"] == {
        "name": "sam",
        "needs": "registry",
        "default_weights": "sam_vit_b",
        "ready": True,
        "detail": "default weights sam_vit_b cached",
    }
    assert engines["hq-sam"]["ready"] is False
    assert engines["hq-sam"]["detail"] == "default weights sam_hq_vit_b not downloaded"

    weights = {w["name"]: w for w in described["weights"]}
    assert list(weights) == list(REGISTRY)
    assert weights["sam_vit_b"]["cached"] is True and weights["sam_vit_b"]["family"] == "sam"
    assert weights["sam_hq_vit_h"]["cached"] is False
    assert weights["sam_hq_vit_h"]["path"] == str(tmp_path / "sam_hq_vit_h.pth")
    assert described["cache_dir"] == str(tmp_path)


def test_devices_are_those_torch_sees():
    import torch

    described = describe_environment()
    assert described["torch"] == str(torch.__version__)
    assert described["cuda"]["available"] == torch.cuda.is_available()
    assert len(described["cuda"]["devices"]) == (
        torch.cuda.device_count() if torch.cuda.is_available() else 0
    )
    expected_auto = (
        "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    )
    assert described["auto_device"] == expected_auto
    assert described["executable"] == sys.executable


def test_environment_request_through_the_worker(worker: WorkerProcess, tmp_path: Path):
    result = worker.call("environment")["result"]
    assert [e["name"] for e in result["engines"]] == engine_names()
    assert {"python", "torch", "cuda", "auto_device", "weights"} <= set(result)
    response = worker.call("environment", {"verbose": True})
    assert response["error"]["code"] == -32602
