"""The plugin's pure helpers: pixel-frame flips and GeoJSON -> WKT."""

from __future__ import annotations

from rossam_geo_qgis.geojson import crs_string, flip_geometry_y, geometry_to_wkt, qgis_box_to_pixel_box


def test_qgis_box_of_a_plain_image_becomes_a_pixel_box_with_y_down():
    # QGIS shows pixel rows 3..6 of a plain image at y in [-7, -3]
    assert qgis_box_to_pixel_box((2.0, -7.0, 5.0, -3.0)) == [2.0, 3.0, 5.0, 7.0]


def test_flipping_twice_gives_back_the_geometry():
    polygon = {"type": "Polygon", "coordinates": [[[2, 3], [2, 7], [5, 7], [5, 3], [2, 3]]]}
    flipped = flip_geometry_y(polygon)
    assert flipped == {"type": "Polygon", "coordinates": [[[2, -3], [2, -7], [5, -7], [5, -3], [2, -3]]]}
    assert flip_geometry_y(flipped) == polygon
    assert flip_geometry_y(None) is None


def test_wkt_keeps_every_digit_and_nesting():
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[0.1, 0.2], [1, 0.2], [1, 1], [0.1, 0.2]], [[0.3, 0.3], [0.5, 0.3], [0.5, 0.5], [0.3, 0.3]]],
            [
                [
                    [500000.123456789, 4999999.5],
                    [500001, 4999999.5],
                    [500001, 5000000],
                    [500000.123456789, 4999999.5],
                ]
            ],
        ],
    }
    wkt = geometry_to_wkt(multi)
    assert wkt.startswith("MULTIPOLYGON (((0.1 0.2, 1.0 0.2")
    assert "500000.123456789 4999999.5" in wkt
    assert wkt.count("(") == 1 + 2 + 3
    assert geometry_to_wkt({"type": "Point", "coordinates": [1, 2]}) == "POINT (1.0 2.0)"
    assert geometry_to_wkt(None) == "GEOMETRYCOLLECTION EMPTY"


def test_crs_string_prefers_the_authority_code():
    assert (
        crs_string({"type": "name", "properties": {"name": "EPSG:32633", "wkt": "PROJCRS[...]"}})
        == "EPSG:32633"
    )
    assert (
        crs_string({"type": "name", "properties": {"name": "PROJCRS[x]", "wkt": "PROJCRS[x]"}})
        == "PROJCRS[x]"
    )
    assert crs_string(None) is None
