from __future__ import annotations

import json

import cv2
import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner
from pycocotools import mask as mask_utils

from rossam_geo.cli import main


def _flat(text: str) -> str:
    return " ".join(text.split())


def _invoke(*args: str):
    return CliRunner().invoke(main, ["tracks", *args])


@pytest.fixture(scope="module")
def cli_run(sequence, tmp_path_factory):
    """One CLI run of the box engine on the sequence with every optional output."""
    frames, mot, truth = sequence
    out = tmp_path_factory.mktemp("cli")
    result = _invoke(
        str(frames),
        str(mot),
        "-o",
        str(out / "t.gpkg"),
        "--engine",
        "box",
        "--class-map",
        "1=airplane,2=ship",
        "--masks-dir",
        str(out / "masks"),
        "--coco",
        str(out / "coco.json"),
        "--report",
        str(out / "jumps.csv"),
        "--fps",
        "2",
        "--start-time",
        "2024-05-01T10:00:00+02:00",
        "--chunk-frames",
        "4",
    )
    return out, result, truth, frames


def test_cli_writes_every_feature_and_a_summary(cli_run):
    out, result, truth, _ = cli_run
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "20 boxes in 10 frames, 2 tracks" in text and "wrote 20 features (20 ok) in 3 chunks" in text
    assert "0 of 18 consecutive pairs flagged" in text
    gdf = pyogrio.read_dataframe(out / "t.gpkg", layer="tracks")
    assert len(gdf) == 20 and set(gdf["class"]) == {"airplane", "ship"}
    assert str(gdf["timestamp"].min()) == "2024-05-01 08:00:00+00:00"


def test_mask_pngs_hold_track_ids_at_the_object_pixels(cli_run):
    out, _, truth, _ = cli_run
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{k:06d}.png" for k in range(1, 11)]
    for k in (1, 10):
        label = cv2.imread(str(out / "masks" / f"{k:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint16 and label.shape == (72, 96)
        expected = np.zeros_like(label)
        for t in truth:
            if t.frame == k:
                x0, y0, x1, y1 = t.box_px_xyxy
                expected[y0:y1, x0:x1] = t.track_id
        np.testing.assert_array_equal(label, expected)


def test_coco_output_decodes_to_the_objects_and_loads_for_training(cli_run):
    out, _, truth, frames = cli_run
    doc = json.loads((out / "coco.json").read_text())
    assert [img["id"] for img in doc["images"]] == list(range(1, 11))
    assert doc["images"][0] == {"id": 1, "file_name": "frame_1.tif", "width": 96, "height": 72}
    assert {c["name"] for c in doc["categories"]} == {"airplane", "ship"}
    assert len(doc["annotations"]) == 20
    for ann in doc["annotations"]:
        t = next(t for t in truth if (t.frame, t.track_id) == (ann["frame"], ann["track_id"]))
        x0, y0, x1, y1 = t.box_px_xyxy
        mask = mask_utils.decode(ann["segmentation"]).astype(bool)
        assert mask.sum() == ann["area"] == (x1 - x0) * (y1 - y0) and mask[y0:y1, x0:x1].all()
        assert ann["bbox"] == [x0, y0, x1 - x0, y1 - y0]

    from rossam_geo.train.data import CocoInstances

    dataset = CocoInstances(out / "coco.json", images_root=frames)
    sample = dataset[0]
    assert sample["masks"].shape == (2, 72, 96) and sample["image"].shape == (72, 96, 3)


def test_jump_report_csv_and_summary(cli_run):
    out, *_ = cli_run
    lines = (out / "jumps.csv").read_text().splitlines()
    assert lines[0].startswith("track_id,frame,previous_frame,area,previous_area,area_ratio,iou_aligned")
    assert len(lines) == 19 and lines[1] == "1,2,1,28.0,28.0,1.0,1.0,False,"
    summary = json.loads((out / "jumps.summary.json").read_text())
    assert summary["pairs"] == 18 and summary["flagged"] == 0


def test_existing_output_is_a_clean_error(cli_run):
    out, _, _, frames = cli_run
    result = _invoke(str(frames), str(frames.parent / "gt.txt"), "-o", str(out / "t.gpkg"), "--engine", "box")
    assert result.exit_code == 1
    assert "use --resume to continue that run or --overwrite" in _flat(result.output)
    assert "Traceback" not in result.output


def test_overwrite_and_resume_together_are_refused(cli_run):
    out, _, _, frames = cli_run
    result = _invoke(
        str(frames), str(frames.parent / "gt.txt"), "-o", str(out / "x.gpkg"), "--overwrite", "--resume"
    )
    assert result.exit_code == 2 and "choose one of --overwrite and --resume" in result.output


def test_bad_class_map_is_a_usage_error(cli_run):
    out, _, _, frames = cli_run
    result = _invoke(
        str(frames), str(frames.parent / "gt.txt"), "-o", str(out / "y.gpkg"), "--class-map", "1:car"
    )
    assert result.exit_code == 2 and "is not CODE=NAME" in result.output


def test_sot_file_through_the_cli(sequence, tmp_path):
    frames, _, truth = sequence
    lines = []
    for t in (t for t in truth if t.track_id == 2):
        x0, y0, x1, y1 = t.box_px_xyxy
        lines.append(f"{x0},{y0},{x1 - x0},{y1 - y0}" if t.frame != 4 else "NaN,NaN,NaN,NaN")
    (tmp_path / "ship_2.txt").write_text("\n".join(lines) + "\n")
    result = _invoke(
        str(frames),
        str(tmp_path / "ship_2.txt"),
        "-o",
        str(tmp_path / "s.gpkg"),
        "--engine",
        "box",
        "--class",
        "ship",
    )
    assert result.exit_code == 0, result.output
    gdf = pyogrio.read_dataframe(tmp_path / "s.gpkg")
    assert sorted(gdf["frame"]) == [1, 2, 3, 5, 6, 7, 8, 9, 10] and set(gdf["track_id"]) == {2}


def test_real_satmtb_frame_with_the_box_engine(shared_data, tmp_path):
    folder = shared_data / "satmtb_frame"
    boxes = np.load(folder / "airplane235_boxes.npy")
    result = _invoke(
        str(folder),
        str(folder / "airplane235_boxes.npy"),
        "-o",
        str(tmp_path / "s.gpkg"),
        "--engine",
        "box",
        "--class",
        "airplane",
        "--report",
        str(tmp_path / "r.json"),
    )
    assert result.exit_code == 0, result.output
    gdf = pyogrio.read_dataframe(tmp_path / "s.gpkg").sort_values("track_id")
    assert list(gdf["track_id"]) == list(range(1, 8)) and set(gdf["status"]) == {"ok"}
    for box, geom in zip(boxes, gdf.geometry, strict=True):
        # pixel coordinates (a PNG frame): the box engine keeps the pixels whose centres are inside the box
        x0, y0, x1, y1 = geom.bounds
        assert (
            abs(x0 - box[0]) <= 1
            and abs(y0 - box[1]) <= 1
            and abs(x1 - box[2]) <= 1
            and abs(y1 - box[3]) <= 1
        )
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["pairs"] == 0


def test_video_file_through_the_cli_uses_its_frame_rate(tmp_path):
    from tests.video.sequence import HEIGHT, WIDTH, frame_pixels, object_boxes, write_mot

    truth = object_boxes(6)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (WIDTH, HEIGHT))
    for k in range(1, 7):
        writer.write(np.ascontiguousarray(frame_pixels(k, truth).transpose(1, 2, 0)[:, :, ::-1]))
    writer.release()
    mot = write_mot(tmp_path / "gt.txt", truth)
    result = _invoke(
        str(path),
        str(mot),
        "-o",
        str(tmp_path / "v.gpkg"),
        "--engine",
        "box",
        "--start-time",
        "2024-05-01T10:00:00Z",
    )
    assert result.exit_code == 0, result.output
    assert "the video's frame rate, 4 frames per second" in _flat(result.output)
    gdf = pyogrio.read_dataframe(tmp_path / "v.gpkg").sort_values(["frame", "track_id"])
    assert len(gdf) == 12 and set(gdf["source"]) == {f"clip.avi#{k}" for k in range(1, 7)}
    last = gdf.iloc[-1]
    assert str(last["timestamp"]) == "2024-05-01 10:00:01.250000+00:00"
    t = truth[-1]
    assert last.geometry.bounds == tuple(float(v) for v in t.box_px_xyxy)


def test_existing_extra_outputs_are_refused_before_any_work(cli_run, tmp_path):
    out, _, _, frames = cli_run
    result = _invoke(
        str(frames),
        str(frames.parent / "gt.txt"),
        "-o",
        str(tmp_path / "new.gpkg"),
        "--engine",
        "box",
        "--masks-dir",
        str(out / "masks"),
    )
    assert result.exit_code == 1 and "already holds PNG files; use --overwrite" in _flat(result.output)
    assert not (tmp_path / "new.gpkg").exists()


def test_temporal_run_prints_the_jump_summary_without_a_report_file(sequence, tmp_path):
    frames, mot, _ = sequence
    result = _invoke(str(frames), str(mot), "-o", str(tmp_path / "t.gpkg"), "--engine", "box", "--temporal")
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "--temporal leaves the masks of the 'box' engine unchanged" in text
    assert "jump report: 0 of 18 consecutive pairs flagged" in text
