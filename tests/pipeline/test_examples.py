"""The committed sample scene and boxes stay consistent with each other."""

from __future__ import annotations

from pathlib import Path

import pyproj

import rossam_geo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_sample_boxes_land_on_the_sample_scene():
    gdf = rossam_geo.segment(EXAMPLES / "airfield.tif", EXAMPLES / "airfield_boxes.geojson", engine="box")
    assert len(gdf) == 19 and set(gdf["status"]) == {"ok"}
    assert sorted(set(gdf["class"])) == ["airplane", "car", "ship"]
    assert pyproj.CRS(gdf.crs).equals(pyproj.CRS("EPSG:32631"))
    assert (gdf["area"] > 10).all() and (gdf["area"] < 3000).all()  # 0.25 m2 pixels, objects 9 to 140 px
    for path in EXAMPLES.glob("airfield*"):
        assert path.stat().st_size < 3 * 1024 * 1024
