"""Areas in m2 (projected, feet, geographic) or pixels, and geometry reprojection."""

from __future__ import annotations

import pyproj
import pytest
import shapely

from rossam_geo.errors import CRSError, InputError
from rossam_geo.geo import geometry_area, reproject_geometries
from tests.geo.fakes import LAEA_PROJ, TMERC_FT_PROJ

US_SURVEY_FOOT_M = 1200.0 / 3937.0


def test_projected_metres_area_is_the_planar_area():
    geom = shapely.box(500000, 5000000, 500012.5, 5000004).difference(
        shapely.box(500001, 5000001, 500002, 5000002)
    )
    area, unit = geometry_area(geom, pyproj.CRS.from_epsg(32633), pixel_area=0.25)
    assert unit == "m2" and area == pytest.approx(geom.area) and area == pytest.approx(49.0)


def test_projected_feet_area_is_converted_to_square_metres():
    geom = shapely.box(1000, 2000, 1100, 2050)  # 5000 ft2
    area, unit = geometry_area(geom, pyproj.CRS.from_proj4(TMERC_FT_PROJ), pixel_area=1.0)
    assert unit == "m2"
    assert area == pytest.approx(5000 * US_SURVEY_FOOT_M**2, rel=1e-12)
    nc_ftus = pyproj.CRS.from_epsg(2264)  # NAD83 / North Carolina (ftUS)
    assert geometry_area(geom, nc_ftus, 1.0)[0] == pytest.approx(5000 * US_SURVEY_FOOT_M**2, rel=1e-12)


def test_geographic_area_is_geodesic():
    geom = shapely.box(-100.01, 45.0, -99.99, 45.01)
    area, unit = geometry_area(geom, pyproj.CRS.from_epsg(4326), pixel_area=1.0)
    # the same polygon, densified and projected to an equal-area CRS centred on it
    dense = shapely.segmentize(geom, 0.0001)
    (laea,) = reproject_geometries([dense], pyproj.CRS.from_epsg(4326), pyproj.CRS.from_proj4(LAEA_PROJ))
    assert unit == "m2"
    assert area == pytest.approx(laea.area, rel=1e-6)
    assert 1_700_000 < area < 1_800_000  # about 1.57 km x 1.11 km


def test_pixel_area_without_crs():
    assert geometry_area(shapely.box(0, 0, 4, 5), None, pixel_area=1.0) == (20.0, "px")
    assert geometry_area(shapely.box(0, 0, 4, 5), None, pixel_area=4.0) == (5.0, "px")
    with pytest.raises(InputError, match="pixel_area must be > 0, got 0"):
        geometry_area(shapely.box(0, 0, 1, 1), None, pixel_area=0)


def test_empty_and_missing_geometries_have_zero_area():
    assert geometry_area(shapely.Polygon(), pyproj.CRS.from_epsg(32633), 1.0) == (0.0, "m2")
    assert geometry_area(None, None, 1.0) == (0.0, "px")


def test_area_needs_a_linear_unit():
    with pytest.raises(
        CRSError, match=r"CRS 'angles' has no linear unit; areas need a projected or geographic CRS"
    ):
        geometry_area(shapely.box(0, 0, 2, 2), _engineering_degrees(), 1.0)


def _engineering_degrees() -> pyproj.CRS:
    return pyproj.CRS.from_json_dict(
        {
            "type": "EngineeringCRS",
            "name": "angles",
            "datum": {"name": "local"},
            "coordinate_system": {
                "subtype": "Cartesian",
                "axis": [
                    {"name": "a", "abbreviation": "a", "direction": "east", "unit": "degree"},
                    {"name": "b", "abbreviation": "b", "direction": "north", "unit": "degree"},
                ],
            },
        }
    )


def test_reproject_geometries_keeps_order_none_and_empty():
    wgs84, utm = pyproj.CRS.from_epsg(4326), pyproj.CRS.from_epsg(32633)
    square = shapely.box(15.0, 45.0, 15.01, 45.01)
    out = reproject_geometries([square, None, shapely.Polygon()], wgs84, utm)
    x, y = pyproj.Transformer.from_crs(wgs84, utm, always_xy=True).transform(15.0, 45.0)
    assert out[0].exterior.coords[3] == pytest.approx((x, y))
    assert out[1] is None and out[2].is_empty
    back = reproject_geometries(out, utm, wgs84)[0]
    assert back.symmetric_difference(square).area < 1e-14
    assert reproject_geometries([square], wgs84, wgs84)[0] is square
