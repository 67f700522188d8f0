from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyogrio
import pyproj
import pytest
import shapely

from rossam_geo.errors import OutputExistsError
from rossam_geo.segmentation.options import SegmentOptions, option_names
from rossam_geo.video.annotations import TrackBox, read_annotations
from rossam_geo.video.tracks import TrackJob, plan_chunks, run_tracks
from tests.geo.fakes import UTM33_TRANSFORM
from tests.video.sequence import make_sequence, write_mot

REPO = Path(__file__).resolve().parents[2]
CLASS_MAP = {1: "airplane", 2: "ship"}


def _job(frames: Path, **kwargs) -> TrackJob:
    """A job on ``frames``; segment options (``crop_size``...) given by name go to its ``options``."""
    names = option_names(SegmentOptions)
    options = SegmentOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
    return TrackJob(
        str(frames), output_crs_wkt=pyproj.CRS.from_epsg(32633).to_wkt(), options=options, **kwargs
    )


def _map_box(box_px, transform=UTM33_TRANSFORM):
    x0, y0, x1, y1 = box_px
    (ax, ay), (bx, by) = transform @ (x0, y0), transform @ (x1, y1)
    return shapely.box(min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def _by_pair(path: Path, layer: str = "tracks"):
    gdf = pyogrio.read_dataframe(path, layer=layer)
    pairs = list(zip(gdf["frame"], gdf["track_id"], strict=True))
    assert len(pairs) == len(set(pairs)), "duplicate (frame, track_id) features"
    return {pair: row for pair, (_, row) in zip(pairs, gdf.iterrows(), strict=True)}


def test_box_engine_gives_the_exact_box_for_every_frame_and_track(sequence, tmp_path):
    frames, mot, truth = sequence
    boxes = read_annotations(mot, class_names=CLASS_MAP)
    job = _job(frames, engine="box", fps=4.0, start_time="2024-05-01T10:00:00")
    result = run_tracks(job, boxes, str(tmp_path / "out.gpkg"), frames_per_chunk=3)
    assert (result.written, result.chunks, result.status_counts) == (20, 4, {"ok": 20})
    features = _by_pair(tmp_path / "out.gpkg")
    assert len(features) == len(truth) == 20
    start = dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
    for t in truth:
        row = features[(t.frame, t.track_id)]
        expected = _map_box(t.box_px_xyxy)
        assert row.geometry.symmetric_difference(expected).area == 0.0
        w, h = t.box_px_xyxy[2] - t.box_px_xyxy[0], t.box_px_xyxy[3] - t.box_px_xyxy[1]
        assert row["area"] == pytest.approx(w * h * 0.25) and row["area_unit"] == "m2"
        assert row["class"] == CLASS_MAP[t.track_id] and row["status"] == "ok"
        assert row["timestamp"] == start + dt.timedelta(seconds=(t.frame - 1) / 4.0)
        assert row["source"] == f"frame_{t.frame}.tif"
        assert (row["box_cx"], row["box_cy"]) == tuple(expected.centroid.coords[0])
    info = pyogrio.read_info(tmp_path / "out.gpkg", layer="tracks")
    assert pyproj.CRS.from_user_input(info["crs"]).to_epsg() == 32633


def test_oracle_finds_the_object_inside_a_padded_box(sequence, tmp_path, test_engines):
    frames, _, truth = sequence
    boxes = [
        TrackBox(
            t.frame,
            t.track_id,
            (t.box_px_xyxy[0] - 3, t.box_px_xyxy[1] - 2, t.box_px_xyxy[2] + 3, t.box_px_xyxy[3] + 2),
        )
        for t in truth
    ]
    run_tracks(_job(frames, engine="oracle", crop_size=32), boxes, str(tmp_path / "o.gpkg"))
    features = _by_pair(tmp_path / "o.gpkg")
    for t in truth:
        assert (
            features[(t.frame, t.track_id)].geometry.symmetric_difference(_map_box(t.box_px_xyxy)).area == 0.0
        )


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import rossam_geo.io
    from rossam_geo.video.annotations import read_annotations
    from rossam_geo.video.tracks import TrackJob, run_tracks
    import pyproj

    frames, mot, out = sys.argv[1:4]
    kill_at, before = int(sys.argv[4]), sys.argv[5] == "1"
    original = rossam_geo.io.write_features
    calls = []

    def write_then_die(*args, **kwargs):
        calls.append(1)
        if before and len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        original(*args, **kwargs)
        if not before and len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    rossam_geo.io.write_features = write_then_die
    job = TrackJob(frames, engine="box", output_crs_wkt=pyproj.CRS.from_epsg(32633).to_wkt())
    run_tracks(job, read_annotations(mot), out, frames_per_chunk=2)
    """
)


@pytest.mark.parametrize("before_write", [False, True], ids=["after-write", "during-write"])
def test_killed_run_resumes_without_duplicates_or_losses(sequence, tmp_path, before_write):
    frames, mot, truth = sequence
    out = tmp_path / "out.gpkg"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run(
        [sys.executable, str(script), str(frames), str(mot), str(out), "3", "1" if before_write else "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    written_chunks = 2 if before_write else 3
    assert len(_by_pair(out)) == written_chunks * 2 * 2  # 2 frames per chunk, 2 tracks per frame
    assert not list(tmp_path.glob(".out.gpkg*")) or before_write  # a write cut short leaves only its temp

    from click.testing import CliRunner

    from rossam_geo.cli import main

    run = CliRunner().invoke(
        main,
        [
            "tracks",
            str(frames),
            str(mot),
            "-o",
            str(out),
            "--engine",
            "box",
            "--resume",
            "--chunk-frames",
            "2",
        ],
    )
    assert run.exit_code == 0, run.output
    assert f"{written_chunks * 4} already there" in " ".join(run.output.split())
    features = _by_pair(out)
    assert sorted(features) == sorted((t.frame, t.track_id) for t in truth)
    for t in truth:
        assert (
            features[(t.frame, t.track_id)].geometry.symmetric_difference(_map_box(t.box_px_xyxy)).area == 0.0
        )


def test_resuming_a_finished_run_writes_nothing_and_create_refuses_the_output(sequence, tmp_path):
    frames, mot, _ = sequence
    boxes = read_annotations(mot)
    out = str(tmp_path / "out.gpkg")
    run_tracks(_job(frames, engine="box"), boxes, out)
    again = run_tracks(_job(frames, engine="box"), boxes, out, mode="resume")
    assert (again.written, again.already_done) == (0, 20)
    assert len(_by_pair(Path(out))) == 20
    with pytest.raises(OutputExistsError, match="use --resume to continue that run or --overwrite"):
        run_tracks(_job(frames, engine="box"), boxes, out)
    assert run_tracks(_job(frames, engine="box"), boxes[:4], out, mode="overwrite").written == 4
    assert len(_by_pair(Path(out))) == 4


def test_bad_boxes_and_missing_frames_are_reported_and_the_rest_proceeds(sequence, tmp_path):
    frames, mot, _ = sequence
    boxes = read_annotations(mot) + [
        TrackBox(3, 7, (500.0, 500.0, 510.0, 510.0)),  # outside the 96 x 72 frame
        TrackBox(99, 1, (1.0, 1.0, 5.0, 5.0)),  # no frame 99
    ]
    result = run_tracks(_job(frames, engine="box"), boxes, str(tmp_path / "out.gpkg"))
    assert result.status_counts == {"ok": 20, "skipped": 1, "failed": 1}
    features = _by_pair(tmp_path / "out.gpkg")
    assert features[(3, 7)]["status"] == "skipped" and "outside the raster" in features[(3, 7)]["reason"]
    assert features[(99, 1)]["status"] == "failed" and "frame 99 is missing" in features[(99, 1)]["reason"]
    assert features[(3, 7)].geometry is None or features[(3, 7)].geometry.is_empty


def test_temporal_help_fills_missed_frames_and_does_not_depend_on_chunking(sequence, tmp_path, test_engines):
    frames, mot, truth = sequence
    boxes = read_annotations(mot)
    plain = _by_pair_run(frames, boxes, tmp_path / "plain.gpkg", temporal=False, frames_per_chunk=10)
    missed = {pair for pair, row in plain.items() if row["status"] == "failed"}
    assert missed and len(missed) < len(truth)
    by_one = _by_pair_run(frames, boxes, tmp_path / "one.gpkg", temporal=True, frames_per_chunk=1)
    by_ten = _by_pair_run(frames, boxes, tmp_path / "ten.gpkg", temporal=True, frames_per_chunk=10)
    carried = 0
    for t in truth:
        pair = (t.frame, t.track_id)
        a, b = by_one[pair], by_ten[pair]
        assert (a["status"], a["reason"]) == (b["status"], b["reason"])
        assert a.geometry.equals(b.geometry) or (a.geometry is None and b.geometry is None)
        if pair not in missed:
            assert (
                a["status"] == "ok" and a.geometry.symmetric_difference(_map_box(t.box_px_xyxy)).area == 0.0
            )
        elif (t.frame - 1, t.track_id) not in missed and t.frame > 1:
            # the previous frame's mask, moved with the box, is exactly the object again
            assert a["reason"] == "temporal: previous mask carried over" and a["status"] == "ok"
            assert a.geometry.symmetric_difference(_map_box(t.box_px_xyxy)).area == 0.0
            carried += 1
        else:
            assert a["status"] == "failed"
    assert carried > 0


def _by_pair_run(frames, boxes, out, *, temporal, frames_per_chunk):
    run_tracks(
        _job(frames, engine="half-blind", crop_size=32, temporal=temporal),
        boxes,
        str(out),
        frames_per_chunk=frames_per_chunk,
    )
    return _by_pair(out)


def test_plan_chunks_adds_each_tracks_previous_box_as_context():
    boxes = [TrackBox(f, t, (0.0, 0.0, 1.0, 1.0)) for f in (1, 2, 3, 5) for t in (1, 2) if (f, t) != (2, 2)]
    chunks = plan_chunks(boxes, {(1, 1), (1, 2)}, frames_per_chunk=2, temporal=True)
    assert [c.frames for c in chunks] == [[2, 3], [5]]
    assert [(b.frame, b.track_id) for b in chunks[0].context] == [(1, 1), (1, 2)]
    assert [(b.frame, b.track_id) for b in chunks[1].context] == [(3, 1), (3, 2)]
    assert plan_chunks(boxes, set(), frames_per_chunk=2)[0].context == ()


def test_png_sequence_is_segmented_in_pixel_coordinates(tmp_path):
    truth = make_sequence(tmp_path / "png", 3, driver="PNG")
    mot = write_mot(tmp_path / "gt.txt", truth, with_class=False)
    job = TrackJob(str(tmp_path / "png"), engine="box")
    run_tracks(job, read_annotations(mot, class_name="car"), str(tmp_path / "px.gpkg"))
    features = _by_pair(tmp_path / "px.gpkg")
    for t in truth:
        row = features[(t.frame, t.track_id)]
        assert row.geometry.symmetric_difference(shapely.box(*t.box_px_xyxy)).area == 0.0
        assert row["area_unit"] == "px" and row["class"] == "car"
    assert pyogrio.read_info(tmp_path / "px.gpkg")["crs"] is None


def test_timestamps_need_a_valid_frame_rate_and_start_time(tmp_path):
    from rossam_geo.errors import InputError

    with pytest.raises(InputError, match="need both --fps and --start-time"):
        TrackJob(str(tmp_path), fps=5.0)
    with pytest.raises(InputError, match="is not ISO 8601; write it like 2024-05-01T10:00:00Z"):
        TrackJob(str(tmp_path), fps=5.0, start_time="yesterday")
    job = TrackJob(str(tmp_path), fps=5.0, start_time="2024-05-01T12:00:00+02:00")
    assert job.timestamp(6) == dt.datetime(2024, 5, 1, 10, 0, 1, tzinfo=dt.timezone.utc)
