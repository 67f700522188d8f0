from __future__ import annotations

import os
import signal

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely

from rossam_geo.distributed import parse_scheduler, run_segment_distributed, run_tracks_distributed
from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.segmentation.options import SegmentOptions, option_names
from rossam_geo.video.annotations import read_annotations
from rossam_geo.video.tracks import TRACK_COLUMNS, TrackJob, run_tracks
from tests.geo.fakes import UTM33_TRANSFORM, make_geotiff

#: Every output column except the two that depend on when the run happened.
COMPARED = [c for c in TRACK_COLUMNS if c not in ("timestamp", "created")]


def _job(frames, **kwargs) -> TrackJob:
    """A job on ``frames``; segment options (``crop_size``...) given by name go to its ``options``."""
    names = option_names(SegmentOptions)
    options = SegmentOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
    return TrackJob(
        str(frames), output_crs_wkt=pyproj.CRS.from_epsg(32633).to_wkt(), options=options, **kwargs
    )


def _sorted(path, layer="tracks"):
    gdf = pyogrio.read_dataframe(path, layer=layer)
    return gdf.sort_values(["frame", "track_id"]).reset_index(drop=True)


def _map_box(box_px):
    x0, y0, x1, y1 = box_px
    (ax, ay), (bx, by) = UTM33_TRANSFORM @ (x0, y0), UTM33_TRANSFORM @ (x1, y1)
    return shapely.box(min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def test_parse_scheduler():
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://127.0.0.1:8786") == ("remote", "tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match="needs a worker count of 1 or more"):
        parse_scheduler("local:0")


def test_cluster_binds_to_localhost_only(client):
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
    assert all(w["nthreads"] == 1 for w in workers.values())
    import psutil

    me = psutil.Process()
    listening = [
        conn.laddr.ip
        for proc in [me, *me.children(recursive=True)]
        for conn in proc.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 4 and set(listening) == {"127.0.0.1"}


def test_tracks_on_two_workers_equal_the_local_run(sequence, client, tmp_path):
    frames, mot, truth = sequence
    boxes = read_annotations(mot, class_names={1: "airplane", 2: "ship"})
    run_tracks(_job(frames, engine="box"), boxes, str(tmp_path / "local.gpkg"), frames_per_chunk=3)
    result = run_tracks_distributed(
        _job(frames, engine="box"), boxes, str(tmp_path / "dask.gpkg"), client, frames_per_chunk=2
    )
    assert (result.written, result.chunks, result.failed_chunks) == (20, 5, [])
    local, dask = _sorted(tmp_path / "local.gpkg"), _sorted(tmp_path / "dask.gpkg")
    assert len(dask) == 20
    assert local[COMPARED].equals(dask[COMPARED])
    assert all(a.equals(b) for a, b in zip(local.geometry, dask.geometry, strict=True))
    # each worker built its engine once and kept it
    cached = client.run(
        lambda dask_worker: sum(key[0] == "engine" for key in getattr(dask_worker, "rossam_geo_engines", {}))
    )
    assert set(cached.values()) <= {0, 1} and sum(cached.values()) >= 1


def test_a_killed_worker_loses_no_result(sequence, tmp_path):
    from rossam_geo.distributed import connect
    from tests.distributed.plugins import TestEnginesPlugin

    frames, mot, truth = sequence
    boxes = read_annotations(mot)
    killed: list[int] = []
    with connect("local:2") as client:
        client.register_plugin(TestEnginesPlugin())
        pids = client.run(os.getpid)

        def kill_a_busy_worker(chunk, result):
            if killed:
                return
            busy = [addr for addr, keys in client.processing().items() if keys and addr in pids]
            pid = pids[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        result = run_tracks_distributed(
            _job(frames, engine="slow-oracle", crop_size=32),
            boxes,
            str(tmp_path / "k.gpkg"),
            client,
            frames_per_chunk=1,
            on_chunk=kill_a_busy_worker,
        )
        assert killed and killed[0] not in client.run(os.getpid).values()
    assert result.failed_chunks == [] and result.written == 20
    gdf = _sorted(tmp_path / "k.gpkg")
    assert list(zip(gdf["frame"], gdf["track_id"], strict=True)) == sorted(
        (t.frame, t.track_id) for t in truth
    )
    for t, geom in zip(sorted(truth, key=lambda t: (t.frame, t.track_id)), gdf.geometry, strict=True):
        assert geom.symmetric_difference(_map_box(t.box_px_xyxy)).area == 0.0


def _scenes(folder, n):
    paths = []
    for k in range(n):
        data = np.full((3, 30, 40), 50 + k, dtype=np.uint8)
        paths.append(str(make_geotiff(folder / f"scene_{k}.tif", data=data)))
    return paths


def test_segment_many_scenes_equals_one_by_one_and_resumes(client, tmp_path):
    from rossam_geo.api import Segmenter

    scenes = _scenes(tmp_path, 3)
    boxes = np.array([[2.0, 3.0, 12.0, 9.0], [20.0, 10.0, 35.0, 28.0]])
    csv = tmp_path / "boxes.csv"
    csv.write_text("xmin,ymin,xmax,ymax\n" + "\n".join(",".join(str(v) for v in b) for b in boxes) + "\n")
    out = tmp_path / "many.gpkg"
    result = run_segment_distributed(scenes[:2], csv, out, client, engine="box", pixel=True)
    assert sorted(result.scenes_done) == ["scene_0.tif", "scene_1.tif"] and result.features == 4
    with pytest.raises(OutputExistsError, match="use --overwrite to replace its layer .*, --append to add"):
        run_segment_distributed(scenes, csv, out, client, engine="box", pixel=True)
    resumed = run_segment_distributed(scenes, csv, out, client, engine="box", pixel=True, mode="resume")
    assert resumed.scenes_done == ["scene_2.tif"] and sorted(resumed.scenes_skipped) == [
        "scene_0.tif",
        "scene_1.tif",
    ]
    gdf = pyogrio.read_dataframe(out).sort_values(["source", "prompt_id"]).reset_index(drop=True)
    assert len(gdf) == 6 and list(gdf["status"]) == ["ok"] * 6
    segmenter = Segmenter(engine="box")
    for scene in scenes:
        expected = segmenter.segment(scene, csv, pixel=True)
        got = gdf[gdf["source"] == os.path.basename(scene)]
        assert all(a.equals(b) for a, b in zip(expected.geometry, got.geometry, strict=True))


def test_duplicate_scene_names_are_refused(client, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    scenes = [_scenes(tmp_path / "a", 1)[0], _scenes(tmp_path / "b", 1)[0]]
    with pytest.raises(InputError, match="'scene_0.tif' appears more than once"):
        run_segment_distributed(scenes, "x.csv", tmp_path / "o.gpkg", client, engine="box")


def test_cuda_jobs_ask_each_task_for_one_gpu_resource(sequence, tmp_path):
    from rossam_geo.distributed import connect, gpu_resources

    assert gpu_resources("cuda:1") == {"GPU": 1} and gpu_resources("cpu") is None
    frames, mot, _ = sequence
    with connect("local:1", worker_resources={"GPU": 1}) as client:
        seen: list[dict] = []

        def resources_of_running_tasks(chunk, result):
            seen.append(client.run_on_scheduler(lambda dask_scheduler: dict(dask_scheduler.resources)))

        result = run_tracks_distributed(
            _job(frames, engine="box", device="cuda"),
            read_annotations(mot),
            str(tmp_path / "g.gpkg"),
            client,
            frames_per_chunk=5,
            on_chunk=resources_of_running_tasks,
        )
    assert result.written == 20 and seen and all("GPU" in r for r in seen)


def test_failed_tasks_are_retried_or_reported_and_resumed(sequence, tmp_path):
    from rossam_geo.distributed import connect
    from tests.distributed.plugins import TestEnginesPlugin

    frames, mot, truth = sequence
    boxes = read_annotations(mot)
    job = _job(frames, engine="flaky-load", crop_size=32)
    out = str(tmp_path / "f.gpkg")
    with connect("local:2") as client:
        client.register_plugin(TestEnginesPlugin())
        # no retries: the first task on each worker fails and its chunk is reported, not written
        first = run_tracks_distributed(job, boxes, out, client, frames_per_chunk=2, retries=0)
        assert first.failed_chunks and all("model load failed" in e for _, e in first.failed_chunks)
        assert first.written == 20 - 4 * len(first.failed_chunks)
        # resuming writes exactly the missing chunks
        second = run_tracks_distributed(job, boxes, out, client, frames_per_chunk=2, mode="resume")
        assert second.failed_chunks == [] and second.already_done == first.written
        assert second.written == 4 * len(first.failed_chunks)
    with connect("local:2") as client:
        client.register_plugin(TestEnginesPlugin())
        # with retries (the default, 2), the same first failures are retried and nothing is lost
        third = run_tracks_distributed(job, boxes, str(tmp_path / "r.gpkg"), client, frames_per_chunk=2)
        assert third.failed_chunks == [] and third.written == 20
    for path in (out, str(tmp_path / "r.gpkg")):
        gdf = _sorted(path)
        assert list(zip(gdf["frame"], gdf["track_id"], strict=True)) == sorted(
            (t.frame, t.track_id) for t in truth
        )


CLIENT_KILLER = """
import os, signal, sys
import pyproj
import rossam_geo.io
from rossam_geo.distributed import connect, run_tracks_distributed
from rossam_geo.video.annotations import read_annotations
from rossam_geo.video.tracks import TrackJob

frames, mot, out = sys.argv[1:4]
original = rossam_geo.io.write_features
calls = []

def write_then_die(*args, **kwargs):
    original(*args, **kwargs)
    calls.append(1)
    if len(calls) == 2:
        # the client and its local cluster die at once, right after the second chunk is written
        os.killpg(os.getpgid(0), signal.SIGKILL)

rossam_geo.io.write_features = write_then_die
if __name__ == "__main__":
    job = TrackJob(frames, engine="box", output_crs_wkt=pyproj.CRS.from_epsg(32633).to_wkt())
    with connect("local:2") as client:
        run_tracks_distributed(job, read_annotations(mot), out, client, frames_per_chunk=2)
"""


def test_a_killed_client_resumes_into_a_complete_output(sequence, client, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    frames, mot, truth = sequence
    script = tmp_path / "client_killer.py"
    script.write_text(CLIENT_KILLER)
    out = tmp_path / "c.gpkg"
    proc = subprocess.run(
        [sys.executable, str(script), str(frames), str(mot), str(out)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert len(_sorted(out)) == 8  # two chunks of 2 frames x 2 tracks
    resumed = run_tracks_distributed(
        _job(frames, engine="box"), read_annotations(mot), str(out), client, frames_per_chunk=2, mode="resume"
    )
    assert (resumed.already_done, resumed.written) == (8, 12)
    gdf = _sorted(out)
    assert list(zip(gdf["frame"], gdf["track_id"], strict=True)) == sorted(
        (t.frame, t.track_id) for t in truth
    )


def test_temporal_help_on_workers_equals_the_local_run(sequence, client, tmp_path, monkeypatch):
    from rossam_geo.engines import ENGINE_FACTORIES
    from tests.video.engines import TEST_ENGINES

    for name, target in TEST_ENGINES.items():
        monkeypatch.setitem(ENGINE_FACTORIES, name, target)
    frames, mot, _ = sequence
    boxes = read_annotations(mot)
    job = _job(frames, engine="half-blind", crop_size=32, temporal=True)
    run_tracks(job, boxes, str(tmp_path / "local.gpkg"), frames_per_chunk=10)
    run_tracks_distributed(job, boxes, str(tmp_path / "dask.gpkg"), client, frames_per_chunk=3)
    local, dask = _sorted(tmp_path / "local.gpkg"), _sorted(tmp_path / "dask.gpkg")
    assert (local["reason"] == "temporal: previous mask carried over").sum() > 0
    assert local[COMPARED].equals(dask[COMPARED])
    assert all(
        (a is None and b is None) or a.equals(b) for a, b in zip(local.geometry, dask.geometry, strict=True)
    )


def _cached_segmenter_ttas(dask_worker) -> list[str]:
    """The ``tta`` of every segmenter cached on a worker (run through ``client.run``)."""
    from rossam_geo.distributed import worker_cache

    cache = worker_cache(dask_worker)
    return sorted(v.engine.tta for k, v in cache.items() if k[0] == "segmenter" and hasattr(v.engine, "tta"))


def test_engine_options_reach_the_workers(client, tmp_path):
    from rossam_geo.api import Segmenter
    from rossam_geo.distributed import warm_workers

    scene = str(
        make_geotiff(
            tmp_path / "scene.tif",
            data=np.random.default_rng(2).integers(0, 255, (3, 40, 50), dtype=np.uint8),
        )
    )
    csv = tmp_path / "boxes.csv"
    csv.write_text("xmin,ymin,xmax,ymax\n4,5,20,18\n25,10,44,33\n")
    out = tmp_path / "flips.gpkg"
    warm_workers(client, "rossam", device="cpu", engine_options={"tta": "flips"})
    assert all(ttas == ["flips"] for ttas in client.run(_cached_segmenter_ttas).values())
    run_segment_distributed(
        [scene], csv, out, client, engine="rossam", device="cpu", engine_options={"tta": "flips"}, pixel=True
    )
    got = pyogrio.read_dataframe(out)
    expected = Segmenter("rossam", device="cpu", tta="flips").segment(scene, csv, pixel=True)
    assert list(got["status"]) == ["ok", "ok"]
    assert all(a.equals(b) for a, b in zip(expected.geometry, got.geometry, strict=True))
    assert sorted(sum(client.run(_cached_segmenter_ttas).values(), [])) == ["flips", "flips"]
