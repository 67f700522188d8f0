"""The polygon stage: workers give the same polygons in input order, the engine never waits on them, a lost
worker fails nothing, small holes are removed before polygonizing, and every stage's time is counted."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine

import rossam_geo
from rossam_geo.pipeline.polygons import (
    POOL_MIN_BOXES,
    PolygonSettings,
    iter_box_polygons,
    polygon_executor,
    polygon_workers,
    polygonize_outcomes,
)
from rossam_geo.pipeline.run import ArraySource, iter_box_masks
from rossam_geo.pipeline.timing import STAGES, StageTimes
from tests.pipeline.conftest import assert_same_area, draw_key_scene, pixel_polygon
from tests.pipeline.oracle import OracleEngine

UTM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)


def _scene(n: int = 12) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """(120, 40 * n, 3) image with one green rectangle every 40 px, their boxes and the rectangles."""
    image = np.zeros((120, 40 * n, 3), np.uint8)
    rects = [(40 * i + 8, 20 + i % 3, 40 * i + 24 + i % 5, 40 + i % 4) for i in range(n)]
    for c0, r0, c1, r1 in rects:
        image[r0:r1, c0:c1, 1] = 255
    boxes = np.array([(c0 - 2, r0 - 2, c1 + 2, r1 + 2) for c0, r0, c1, r1 in rects], np.float64)
    return image, boxes, rects


def _settings(**options: object) -> PolygonSettings:
    return PolygonSettings.for_scene(UTM, pyproj.CRS("EPSG:32633"), **options)  # type: ignore[arg-type]


def _run(executor, depth: int, engine=None, timings=None):
    image, boxes, _ = _scene()
    engine = engine or OracleEngine(128, 3)
    masks = iter_box_masks(ArraySource(image), boxes, engine, crop_size=64, prefetch=1, timings=timings)
    return list(polygonize_outcomes(masks, _settings(), executor=executor, depth=depth, timings=timings))


def test_workers_give_the_polygons_of_the_calling_thread_in_input_order():
    inline = _run(None, 0)
    with ThreadPoolExecutor(3) as threads:
        pooled = _run(threads, 6)
    processes = _run(polygon_executor(2), 5)  # forked worker processes on Linux
    _, _, rects = _scene()
    for results in (pooled, processes):
        assert [o.index for o, _ in results] == list(range(len(rects)))
        for (_, a), (outcome, b), rect in zip(inline, results, rects, strict=True):
            assert outcome.status == "ok" and outcome.mask is None  # released once polygonized
            assert shapely.equals(a.geometry, b.geometry) and a.area == b.area == pytest.approx(
                (rect[2] - rect[0]) * (rect[3] - rect[1]) * 0.25
            )
            assert_same_area(b.geometry, pixel_polygon(*rect, UTM), 0.25)


class _GatedExecutor(ThreadPoolExecutor):
    """Threads whose tasks wait until ``gate`` is set: polygons that finish only after the engine is done."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(2)
        self.gate = gate

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        def gated():
            if not self.gate.wait(timeout=20):
                raise TimeoutError("the engine waited on the polygons")
            return fn(*args, **kwargs)

        return super().submit(gated)


class _LastCallOpensGate(OracleEngine):
    def __init__(self, gate: threading.Event, calls: int) -> None:
        super().__init__(128, 3)
        self.gate, self.expected = gate, calls

    def predict(self, images_rgb_u8, boxes_px_xyxy):  # type: ignore[no-untyped-def]
        out = super().predict(images_rgb_u8, boxes_px_xyxy)
        if len(self.calls) == self.expected:
            self.gate.set()
        return out


def test_the_engine_runs_every_batch_while_no_polygon_is_finished():
    gate = threading.Event()
    engine = _LastCallOpensGate(gate, calls=4)  # 12 boxes in batches of 3
    with _GatedExecutor(gate) as executor:
        results = _run(executor, depth=12, engine=engine)
    assert len(engine.calls) == 4 and gate.is_set()
    assert [o.status for o, _ in results] == ["ok"] * 12


class _LosingExecutor(ThreadPoolExecutor):
    """Every third task dies as if its worker process had been killed."""

    def __init__(self) -> None:
        super().__init__(2)
        self.count = 0

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        self.count += 1
        if self.count % 3 == 0:
            lost: Future = Future()
            lost.set_exception(OSError("worker lost"))
            return lost
        return super().submit(fn, *args, **kwargs)


def test_a_lost_worker_fails_no_box():
    inline = _run(None, 0)
    with _LosingExecutor() as executor:
        results = _run(executor, depth=4)
    assert [o.status for o, _ in results] == ["ok"] * 12
    for (_, a), (_, b) in zip(inline, results, strict=True):
        assert shapely.equals(a.geometry, b.geometry)


def test_every_stage_time_is_counted(tmp_path):
    timings = StageTimes()
    results = _run(None, 0, timings=timings)
    assert timings.boxes == len(results) == 12
    assert all(timings.seconds[name] > 0 for name in ("read", "engine", "polygons"))
    assert set(timings.per_box_ms()) == set(STAGES)
    assert timings.summary().endswith("ms per box (12 boxes)")
    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 30, 30)])
    result = rossam_geo.Segmenter(OracleEngine()).segment_scene(
        scene, np.array([[8.0, 8, 32, 32]]), pixel=True
    )
    assert result.timings.boxes == 1 and result.timings.seconds["polygons"] > 0


def test_small_holes_are_removed_by_default_and_kept_on_request(tmp_path):
    scene = draw_key_scene(tmp_path / "s.tif", 120, 100, [(10, 10, 40, 40)])
    from rasterio import open as rio_open

    with rio_open(scene, "r+") as dst:  # punch a 2x2 px and a 6x6 px hole into the object
        green = dst.read(2)
        green[20:22, 15:17] = 0
        green[25:31, 25:31] = 0
        dst.write(green, 2)
    boxes = np.array([[8.0, 8, 42, 42]])
    cleaned = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True).geometry.iloc[0]
    raw = rossam_geo.segment(scene, boxes, engine=OracleEngine(), pixel=True, min_region_px=0).geometry.iloc[
        0
    ]
    assert len(cleaned.interiors) == 1 and len(raw.interiors) == 2
    assert cleaned.area == pytest.approx((900 - 36) * 0.25) and raw.area == pytest.approx((900 - 40) * 0.25)


def test_output_crs_polygons_are_made_by_the_stage():
    image, boxes, rects = _scene(2)
    settings = PolygonSettings.for_scene(UTM, pyproj.CRS("EPSG:32633"), "EPSG:4326")
    results = list(
        iter_box_polygons(ArraySource(image), boxes, OracleEngine(128, 2), settings, workers=0, crop_size=64)
    )
    transformer = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    for (_, polygon), rect in zip(results, rects, strict=True):
        assert_same_area(polygon.geometry, pixel_polygon(*rect, UTM), 0.25)
        expected = shapely.transform(
            polygon.geometry, lambda x, y: transformer.transform(x, y), interleaved=False
        )
        assert polygon.output_geometry.equals_exact(expected, 1e-12)
        assert polygon.area == pytest.approx(polygon.geometry.area)  # measured in the scene CRS


def test_automatic_workers_only_for_large_runs_on_machines_with_cores(monkeypatch):
    from rossam_geo.pipeline import polygons

    monkeypatch.setattr(polygons, "_cpu_count", lambda: 16)
    assert polygon_workers(None, POOL_MIN_BOXES) == 14
    assert polygon_workers(None, POOL_MIN_BOXES - 1) == 0
    assert polygon_workers(3, 1) == 3 and polygon_workers(0, 10_000) == 0
    monkeypatch.setattr(polygons, "_cpu_count", lambda: 2)
    assert polygon_workers(None, 10_000) == 0
