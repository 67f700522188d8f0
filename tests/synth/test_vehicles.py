from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from rossam_geo.synth import generate_scene
from rossam_geo.synth.vehicles import VEHICLE_KINDS, across_profile, roof_details, vehicle_body


def _union(polys: list[np.ndarray]) -> shapely.Geometry:
    return shapely.union_all([Polygon(p) for p in polys])


@pytest.mark.parametrize("kind", sorted(VEHICLE_KINDS))
def test_bodies_nearly_fill_their_oriented_box(kind):
    for seed in range(10):
        body = vehicle_body(kind, 60.0, np.random.default_rng(seed))
        outline = _union(body.polygons)
        assert outline.geom_type == "Polygon"  # one connected object, trucks included
        assert abs(outline.bounds[2] - outline.bounds[0] - 60.0) < 1e-6
        assert abs(outline.bounds[3] - outline.bounds[1] - body.width_px) < 1e-6
        assert outline.area / (60.0 * body.width_px) > 0.85


@pytest.mark.parametrize("kind", sorted(VEHICLE_KINDS))
def test_roof_details_lie_inside_the_outline(kind):
    for seed in range(10):
        rng = np.random.default_rng(seed)
        body = vehicle_body(kind, 80.0, rng)
        outline = _union(body.polygons).buffer(1e-6)
        details = roof_details(body, np.array([200.0, 30.0, 30.0], np.float32), rng)
        assert details, "vehicles this large always get a windscreen"
        for poly, colour in details:
            assert outline.contains(Polygon(poly))
            assert colour.shape == (3,) and np.all((colour >= 0) & (colour <= 255))


def test_small_vehicles_have_no_details():
    body = vehicle_body("car", 5.0, np.random.default_rng(0))
    assert roof_details(body, np.full(3, 100.0, np.float32), np.random.default_rng(0)) == []


def test_across_profile_is_brightest_inside_without_tilt():
    for seed in range(20):
        profile = across_profile(np.random.default_rng(seed))
        v = np.linspace(-1, 1, 41)
        values = profile(v)
        assert np.all(values > 0.4) and np.all(values < 1.2)
        # symmetric part: edges never brighter than the centre line
        sym = (values + values[::-1]) / 2
        assert sym[20] >= sym.max() - 1e-9


def test_parking_scenes_hold_large_vehicles_and_packed_rows():
    lengths, min_gaps = [], []
    for seed in range(40):
        scene = generate_scene(seed, size_px=192, kind="parking")
        assert set(scene.classes) <= {"car", "truck"}
        assert scene.masks.sum(axis=0).max() <= 1  # disjoint
        boxes = scene.boxes_px_xyxy
        lengths += list(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
        if len(scene.masks) >= 2:
            import cv2

            grown = [
                cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) for m in scene.masks
            ]
            touching = sum(
                bool((grown[i] & scene.masks[j]).any())
                for i in range(len(grown))
                for j in range(len(grown))
                if i != j
            )
            min_gaps.append(touching)
    assert max(lengths) > 90  # buses and trucks up to 150 px
    assert min(lengths) < 10  # and small cars
    assert sum(t > 0 for t in min_gaps) >= 5  # packed rows: neighbours within 2 px
