from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from rossam_geo.video.temporal import (
    WindowMask,
    jump_report,
    move_mask,
    refine_with_previous,
    summarize_jumps,
)


def _rect(shape: tuple[int, int], x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_move_mask_shifts_between_windows():
    previous = WindowMask(_rect((10, 10), 2, 3, 5, 6), col_off=100, row_off=50)
    moved = move_mask(previous, (4, -1), col_off=104, row_off=48, width=8, height=8)
    # previous pixels: frame cols 102..104, rows 53..55 -> moved cols 106..108, rows 52..54
    # -> window cols 2..4, rows 4..6
    np.testing.assert_array_equal(moved, _rect((8, 8), 2, 4, 5, 7))
    assert not move_mask(previous, (100, 0), 0, 0, 8, 8).any()


def test_refinement_trims_a_leak_far_from_the_previous_mask():
    shape = (40, 40)
    previous = WindowMask(_rect(shape, 10, 10, 20, 16), 0, 0)
    leak = _rect(shape, 10, 13, 40, 16)  # object moved 2 px right plus a bar leaking to the right edge
    current = WindowMask(_rect(shape, 12, 10, 22, 16) | leak, 0, 0)
    mask, note = refine_with_previous(current, (0, 0, 40, 40), (12, 10, 22, 16), previous, (10, 10, 20, 16))
    # zone = previous moved by 2 px, dilated by max(2, 0.15 * 10) = 2 px: columns up to 23
    assert note.startswith("temporal: trimmed") and not mask[:, 24:].any()
    assert mask[10:16, 12:22].all()


def test_refinement_keeps_the_current_mask_when_it_does_not_meet_the_previous_one():
    shape = (40, 40)
    previous = WindowMask(_rect(shape, 0, 0, 4, 4), 0, 0)
    current = WindowMask(_rect(shape, 30, 30, 36, 36), 0, 0)
    mask, note = refine_with_previous(current, (0, 0, 40, 40), (30, 30, 36, 36), previous, (0, 0, 4, 4))
    assert note == "" and mask is current.mask


def test_refinement_carries_the_previous_mask_into_an_empty_result():
    shape = (20, 20)
    previous = WindowMask(_rect(shape, 2, 2, 8, 6), 0, 0)
    mask, note = refine_with_previous(None, (0, 0, 20, 20), (5, 3, 10, 7), previous, (2, 2, 8, 6))
    # centre shift (7.5, 5) - (5, 4) = (2.5, 1) -> rounds to (2, 1); clipped to the box columns 5..9
    np.testing.assert_array_equal(mask, _rect(shape, 5, 3, 10, 7))
    assert note == "temporal: previous mask carried over"


def _features(rows):
    return gpd.GeoDataFrame(
        {
            "frame": [r[0] for r in rows],
            "track_id": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "area": [r[3].area for r in rows],
            "box_cx": [r[4] for r in rows],
            "box_cy": [0.0 for _ in rows],
        },
        geometry=[r[3] for r in rows],
    )


def test_jump_report_flags_area_and_shape_jumps_and_missing_masks():
    features = _features(
        [
            (1, 1, "ok", shapely.box(0, 0, 4, 2), 2.0),
            (2, 1, "ok", shapely.box(10, 0, 14, 2), 12.0),  # moved 10 with its box: IoU 1
            (3, 1, "ok", shapely.box(20, 0, 30, 2), 22.0),  # area x2.5, IoU 0.4
            (4, 1, "failed", shapely.Polygon(), 32.0),
            (1, 2, "ok", shapely.box(0, 0, 2, 2), 1.0),
        ]
    )
    records = jump_report(features, max_area_ratio=2.0, min_iou=0.5)
    assert [(r["track_id"], r["frame"], r["previous_frame"]) for r in records] == [
        (1, 2, 1),
        (1, 3, 2),
        (1, 4, 3),
    ]
    first, second, third = records
    assert first["area_ratio"] == 1.0 and first["iou_aligned"] == 1.0 and not first["flagged"]
    assert second["area_ratio"] == 2.5 and abs(second["iou_aligned"] - 0.4) < 1e-12
    assert second["why"] == "area jump; shape jump"
    assert third["flagged"] and third["why"] == "missing mask" and third["iou_aligned"] is None
    summary = summarize_jumps(records)
    assert summary["pairs"] == 3 and summary["flagged"] == 2
    assert summary["tracks"]["1"] == {"pairs": 3, "flagged": 2, "min_iou": 0.4, "max_area_ratio": 2.5}


def test_refinement_never_trims_a_mask_out_of_its_box():
    shape = (40, 40)
    previous = WindowMask(_rect(shape, 30, 30, 36, 36), 0, 0)  # a wrong previous mask, far from its box
    current = WindowMask(_rect(shape, 3, 1, 8, 6) | _rect(shape, 30, 30, 36, 36), 0, 0)
    # shift (2, 0): the zone covers only the far part, which lies outside the current box: keep the mask
    mask, note = refine_with_previous(current, (0, 0, 40, 40), (2, 0, 8, 6), previous, (0, 0, 6, 6))
    assert note == "" and mask is current.mask
