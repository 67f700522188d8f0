from __future__ import annotations

import numpy as np
import pytest

from rossam_geo.errors import PromptError
from rossam_geo.video.annotations import (
    TrackBox,
    detect_format,
    natural_key,
    read_annotations,
    read_mot,
    read_satmtb_boxes,
    read_sot,
)


def test_mot_lines_become_xyxy_boxes_with_class_and_confidence(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text(
        "1,3,10.5,20,4,6,1,2,1\n"
        "1,4,0,0,0,5,1,1,1\n"  # zero width: target absent
        "2,3,11,21,4,6,0.2,-1,1\n"  # class -1: no class
        "# comment\n\n"
    )
    boxes = read_mot(path, class_names={2: "ship"})
    assert boxes == [
        TrackBox(1, 3, (10.5, 20.0, 14.5, 26.0), "ship", 1.0),
        TrackBox(2, 3, (11.0, 21.0, 15.0, 27.0), None, 0.2),
    ]
    assert [b.frame for b in read_mot(path, min_confidence=0.5)] == [1]
    assert {b.class_name for b in read_mot(path, class_name="car")} == {"car"}


def test_mot_class_code_without_names_is_kept_as_text(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1 7 1 2 3 4 1 5\n")  # spaces also separate fields
    assert read_mot(path)[0].class_name == "5"


def test_mot_short_line_is_rejected_with_its_line_number(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,1,1,1,1\n1,2,3\n")
    with pytest.raises(PromptError, match=r"line 2: MOT lines need frame,id,x,y,w,h"):
        read_mot(path)


def test_non_numeric_field_names_the_value(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,a,1,1,1\n")
    with pytest.raises(PromptError, match=r"line 1: 'a' is not a number"):
        read_mot(path)


def test_sot_lines_are_frames_and_nan_or_zero_size_means_absent(tmp_path):
    path = tmp_path / "car_017.txt"
    path.write_text("5,6,10,8\nNaN,NaN,NaN,NaN\n0,0,0,0\n7\t8\t10\t8\n")
    boxes = read_sot(path, class_name="car")
    assert boxes == [
        TrackBox(1, 17, (5.0, 6.0, 15.0, 14.0), "car"),
        TrackBox(4, 17, (7.0, 8.0, 17.0, 16.0), "car"),
    ]
    assert {b.track_id for b in read_sot(path, track_id=3)} == {3}


def test_sot_folder_gives_one_track_per_file(tmp_path):
    (tmp_path / "obj_2.txt").write_text("1,1,2,2\n")
    (tmp_path / "obj_10.txt").write_text("1,1,2,2\n1,1,2,2\n")
    boxes = read_sot(tmp_path)
    assert sorted((b.track_id, b.frame) for b in boxes) == [(2, 1), (10, 1), (10, 2)]
    with pytest.raises(PromptError, match="drop --track-id or pass one file"):
        read_sot(tmp_path, track_id=1)


def test_satmtb_npy_files_match_frames_by_name(tmp_path):
    boxes_dir = tmp_path / "boxes"
    boxes_dir.mkdir()
    np.save(boxes_dir / "img_2.npy", np.array([[1, 2, 5, 6], [10, 10, 12, 14]], dtype=float))
    np.save(boxes_dir / "img_3_boxes.npy", np.zeros((0, 4)))
    boxes = read_satmtb_boxes(tmp_path, frame_stems=["img_1", "img_2", "img_3"], class_name="airplane")
    assert boxes == [
        TrackBox(2, 1, (1.0, 2.0, 5.0, 6.0), "airplane"),
        TrackBox(2, 2, (10.0, 10.0, 12.0, 14.0), "airplane"),
    ]
    with pytest.raises(PromptError, match="matches no frame"):
        read_satmtb_boxes(boxes_dir, frame_stems=["other"])


def test_satmtb_wrong_shape_is_rejected(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((3, 5)))
    with pytest.raises(PromptError, match=r"shape \(3, 5\); expected \(N, 4\)"):
        read_satmtb_boxes(tmp_path / "f.npy")


def test_real_satmtb_frame_boxes(shared_data):
    folder = shared_data / "satmtb_frame"
    boxes = read_annotations(folder / "airplane235_boxes.npy", frame_stems=["airplane235"])
    expected = np.load(folder / "airplane235_boxes.npy")
    assert len(boxes) == len(expected) == 7
    assert all(b.frame == 1 for b in boxes)
    np.testing.assert_allclose([b.box_px_xyxy for b in boxes], expected)


def test_detect_format(tmp_path):
    (tmp_path / "mot.txt").write_text("1,1,1,1,2,2,1,-1,-1,-1\n")
    (tmp_path / "sot.txt").write_text("1,1,2,2\n")
    (tmp_path / "odd.txt").write_text("1,2\n")
    np.save(tmp_path / "b.npy", np.zeros((1, 4)))
    assert detect_format(tmp_path / "mot.txt") == "mot"
    assert detect_format(tmp_path / "sot.txt") == "sot"
    assert detect_format(tmp_path / "b.npy") == "satmtb"
    assert detect_format(tmp_path) == "satmtb"
    with pytest.raises(PromptError, match="pass --format with one of: mot, sot, satmtb"):
        detect_format(tmp_path / "odd.txt")
    with pytest.raises(PromptError, match="do not exist"):
        detect_format(tmp_path / "missing.txt")


def test_read_annotations_sorts_and_keeps_first_box_of_a_repeated_pair(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("2,1,0,0,2,2,1\n1,2,0,0,2,2,1\n1,1,5,5,2,2,1\n1,1,9,9,2,2,1\n")
    boxes = read_annotations(path, format="mot")
    assert [(b.frame, b.track_id) for b in boxes] == [(1, 1), (1, 2), (2, 1)]
    assert boxes[0].box_px_xyxy == (5.0, 5.0, 7.0, 7.0)


def test_natural_key_orders_numbers_by_value():
    names = ["f10.png", "f2.png", "f1.png"]
    assert sorted(names, key=natural_key) == ["f1.png", "f2.png", "f10.png"]
