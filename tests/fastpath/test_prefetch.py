"""Overlapped reads: batches come back in order, depth is bounded, read errors fail single boxes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rossam_geo.pipeline.prefetch import SerializedSource, prefetch_map
from rossam_geo.pipeline.run import ArraySource, iter_box_masks
from tests.pipeline.oracle import OracleEngine


def test_results_come_back_in_input_order():
    delays = [0.03, 0.0, 0.02, 0.0, 0.01, 0.0, 0.0, 0.02]

    def slow_square(i: int) -> int:
        time.sleep(delays[i])
        return i * i

    out = list(prefetch_map(slow_square, range(len(delays)), depth=3, workers=3))
    assert out == [(i, i * i) for i in range(len(delays))]


def test_depth_bounds_the_work_ahead():
    started: list[int] = []
    consumed: list[int] = []
    ahead: list[int] = []

    def record(i: int) -> int:
        started.append(i)
        return i

    for item, _ in prefetch_map(record, range(10), depth=2):
        time.sleep(0.01)  # let the worker run as far ahead as it may
        ahead.append(len(started) - len(consumed))
        consumed.append(item)
    assert consumed == list(range(10))
    assert max(ahead) <= 3  # the item being consumed plus two prepared ahead


def test_depth_zero_runs_in_the_calling_thread():
    threads = []
    out = list(prefetch_map(lambda i: threads.append(threading.get_ident()) or i, range(3), depth=0))
    assert [r for _, r in out] == [0, 1, 2]
    assert set(threads) == {threading.get_ident()}


def test_an_error_is_raised_at_its_items_turn():
    def fail_on_two(i: int) -> int:
        if i == 2:
            raise OSError("disk gone")
        return i

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item, _ in prefetch_map(fail_on_two, range(5), depth=2):
            seen.append(item)
    assert seen == [0, 1]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="prefetch depth must be >= 0, got -1"):
        list(prefetch_map(int, [1], depth=-1))
    with pytest.raises(ValueError, match="prefetch workers must be >= 1, got 0"):
        list(prefetch_map(int, [1], workers=0))


class _RecordingSource:
    """An array source that fails reads whose window starts at given columns, and records concurrency."""

    def __init__(self, image: np.ndarray, failing_cols: set[int]) -> None:
        self.inner = ArraySource(image)
        self.width, self.height = self.inner.width, self.inner.height
        self.failing_cols = failing_cols
        self.active = 0
        self.max_active = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def read_window(self, col_off: int, row_off: int, width: int, height: int):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.threads.add(threading.get_ident())
        time.sleep(0.005)
        try:
            if col_off in self.failing_cols:
                raise OSError(f"read failed at column {col_off}")
            return self.inner.read_window(col_off, row_off, width, height)
        finally:
            with self._lock:
                self.active -= 1


def test_serialized_source_never_reads_concurrently():
    source = _RecordingSource(np.zeros((64, 64, 3), np.uint8), set())
    serial = SerializedSource(source)
    list(prefetch_map(lambda i: serial.read_window(i, 0, 8, 8), range(12), depth=6, workers=4))
    assert source.max_active == 1
    assert (serial.width, serial.height) == (64, 64)


def _green_scene() -> tuple[np.ndarray, np.ndarray]:
    """(200, 300, 3) image with green rectangles and one box per rectangle (XYXY pixels)."""
    image = np.zeros((200, 300, 3), np.uint8)
    image[..., 0] = 90
    rects = [
        (10, 10, 30, 25),
        (60, 20, 80, 40),
        (120, 100, 150, 120),
        (200, 150, 230, 170),
        (250, 30, 270, 60),
    ]
    for c0, r0, c1, r1 in rects:
        image[r0:r1, c0:c1, 1] = 255
    return image, np.array(rects, np.float64)


def test_pipeline_with_prefetch_equals_without_and_fails_bad_reads_alone():
    image, boxes = _green_scene()
    boxes = np.vstack([boxes, [[np.nan] * 4]])  # a box without geometry: skipped, not read
    plain = list(iter_box_masks(ArraySource(image), boxes, OracleEngine(128, 2), crop_size=64, prefetch=0))
    failing_col = plain[2].plan.col_off
    source = _RecordingSource(image, {failing_col})
    fetched = list(iter_box_masks(source, boxes, OracleEngine(128, 2), crop_size=64, prefetch=2))
    assert [o.index for o in fetched] == list(range(len(boxes)))
    assert source.threads and threading.get_ident() not in source.threads  # read on the prefetch thread
    assert source.max_active == 1
    for a, b in zip(plain, fetched, strict=True):
        if b.plan is not None and b.plan.col_off == failing_col:
            assert b.status == "failed"
            assert b.reason == f"window could not be read: read failed at column {failing_col}"
        else:
            assert (a.status, a.reason) == (b.status, b.reason)
            assert (a.mask is None and b.mask is None) or np.array_equal(a.mask, b.mask)
    assert fetched[-1].status == "skipped"
    assert sum(o.status == "ok" for o in fetched) == 4


def test_engine_prefetch_attribute_is_the_default():
    image, boxes = _green_scene()
    engine = OracleEngine(128, 2)
    engine.prefetch_batches = 1  # type: ignore[attr-defined]
    source = _RecordingSource(image, set())
    out = list(iter_box_masks(source, boxes, engine, crop_size=64))
    assert all(o.status == "ok" for o in out)
    assert threading.get_ident() not in source.threads


class _GatedEngine(OracleEngine):
    """Records the thread of each call; its second call opens a gate the consumer waits on."""

    def __init__(self) -> None:
        super().__init__(128, 2)
        self.threads: list[int] = []
        self.second_call = threading.Event()

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray):  # type: ignore[no-untyped-def]
        self.threads.append(threading.get_ident())
        if len(self.threads) == 2:
            self.second_call.set()
        return super().predict(images_rgb_u8, boxes_px_xyxy)


def test_engine_predicts_next_batch_while_the_caller_consumes_the_previous():
    image, boxes = _green_scene()
    engine = _GatedEngine()
    outcomes = iter_box_masks(ArraySource(image), boxes, engine, crop_size=64, prefetch=2)
    first = next(outcomes)  # batch 0 (boxes 0, 1) is out; the caller now holds it
    # Without the engine thread this would wait forever: batch 1 is only predicted after the caller moves on.
    assert engine.second_call.wait(timeout=10)
    rest = list(outcomes)
    assert [o.index for o in [first, *rest]] == list(range(len(boxes)))
    assert all(o.status == "ok" for o in [first, *rest])
    assert len(engine.calls) == 3 and len(set(engine.threads)) == 1  # serialized on one engine thread
    assert threading.get_ident() not in engine.threads


def test_closing_early_stops_the_engine_thread():
    image, boxes = _green_scene()
    engine = _GatedEngine()
    outcomes = iter_box_masks(ArraySource(image), boxes, engine, crop_size=64, prefetch=2)
    next(outcomes)
    outcomes.close()
    calls = len(engine.calls)
    time.sleep(0.05)
    assert len(engine.calls) == calls <= 2  # nothing runs after close; at most one batch ahead was predicted
