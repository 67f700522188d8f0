from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rossam_geo.api import Segmenter
from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import load_merged
from rossam_geo.model.compact import COMPACT_V4_CONFIG
from rossam_geo.synth.gpu_loop import _loop, train_stream
from rossam_geo.synth.gpu_recipe import GpuTrainSettings, Progress, host_tensors
from rossam_geo.synth.stream import SceneCropStream, StreamSettings, collate_crops
from rossam_geo.train.losses import MaskLoss

REPO = Path(__file__).resolve().parents[2]
STREAM = StreamSettings(seed=1, scene_size_px=96, crops_per_scene=2, shuffle_buffer=4)


def _settings(**changes: object) -> GpuTrainSettings:
    values: dict = {"device": "cpu", "seconds": 30.0, "batch_size": 2, "workers": 0, "warmup_steps": 2}
    return GpuTrainSettings(**{**values, **changes})


def _runs_in_the_rossam_engine(weights: Path) -> None:
    engine = build_rossam_engine(weights=weights, device="cpu")
    assert engine.tta == "d8"  # the compact-v4 default
    image = np.full((96, 96, 3), 90, np.uint8)
    image[40:52, 30:60] = 200
    (result,) = Segmenter(engine).segment_array(image, np.array([[30.0, 40.0, 60.0, 52.0]]))
    assert result.mask.shape == (96, 96) and result.status in ("ok", "failed")


def test_sigterm_stops_the_run_and_saves_loadable_weights_and_card(tmp_path):
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if len(lines) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # as a time limit would

    card = train_stream(tmp_path, STREAM, _settings(log_every_s=0.5), log=log)
    assert card["stopped"] == "signal" and card["steps"] >= 1
    assert card["samples_seen"] == card["fresh_samples"] + card["replayed_samples"] >= 2
    assert card["seed"] == 1 and card["device"].startswith("cpu") and card["torch_version"]
    assert "steps/s" in lines[0] and "samples/s" in lines[0] and "data wait" in lines[0]
    weights = tmp_path / "rossam-compact-v4.safetensors"
    assert json.loads((tmp_path / "rossam-compact-v4.json").read_text())["steps"] == card["steps"]
    assert weights.stat().st_size <= 16 * 2**20
    assert load_merged(weights).config == COMPACT_V4_CONFIG
    _runs_in_the_rossam_engine(weights)


def test_refuses_before_any_work(tmp_path):
    (tmp_path / "rossam-compact-v4.safetensors").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite to replace it"):
        train_stream(tmp_path, STREAM, _settings())
    with pytest.raises(InputError, match=r"unknown compact configuration 'vit_x'; choose one of: compact, "):
        train_stream(tmp_path / "new", STREAM, _settings(config="vit_x"))
    with pytest.raises(InputError, match=r"workers >= 0 and max_replay >= 0; got batch_size 0, workers -1$"):
        train_stream(tmp_path / "new", STREAM, _settings(batch_size=0, workers=-1))
    assert not (tmp_path / "new").exists()


def test_script_trains_on_a_cpu_in_seconds_with_worker_processes(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        str(REPO / "scripts" / "train_compact.py"),
        *("--device", "cpu", "--seconds", "12", "--out-dir", str(out), "--workers", "1", "--seed", "3"),
        *("--batch-size", "2", "--shuffle-buffer", "4", "--scene-size", "96", "--no-rasters"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    card = json.loads((out / "rossam-compact-v4.json").read_text())
    assert card["stopped"] == "budget" and summary["steps"] == card["steps"] >= 1
    assert card["seconds"] <= 12.0 and card["seed"] == 3 and card["stream"]["background_rasters"] == []
    _runs_in_the_rossam_engine(out / "rossam-compact-v4.safetensors")


class _OneBatchFeeder:
    """Hands out one batch, then nothing (workers that fell far behind); after waiting 5 times it stops the
    run."""

    def __init__(self, batch: dict, stop: threading.Event) -> None:
        self.batch: dict | None = batch
        self.stop = stop
        self.waits = 0

    def get(self, timeout: float) -> dict | None:
        batch, self.batch = self.batch, None
        if batch is None and timeout > 0:
            time.sleep(timeout)
            self.waits += 1
            if self.waits == 5:
                self.stop.set()
        return batch


def test_a_fresh_batch_is_replayed_at_most_max_replay_times_then_the_loop_waits():
    torch.manual_seed(0)
    net = build_rossam("tiny", lora_rank=0).requires_grad_(True).train()
    batch = host_tensors(collate_crops(list(itertools.islice(iter(SceneCropStream(STREAM)), 2))), pin=False)
    settings = _settings(max_replay=2.0, loss_points=64)
    progress = Progress()
    stop = threading.Event()
    reason = _loop(
        net,
        _OneBatchFeeder(batch, stop),
        torch.optim.AdamW(net.parameters()),
        MaskLoss(num_points=64),
        contextlib.nullcontext,
        settings,
        0,
        time.monotonic() + 120.0,
        stop,
        progress,
        print,
        lambda: None,
    )
    assert reason == "signal"
    assert (progress.steps, progress.replayed_steps) == (3, 2)
    assert progress.fresh_samples == progress.replayed_samples / 2 == 2
    assert progress.wait_s >= 0.5
