"""Benchmark: the cost per feature of writing a run's output grows with the output's size, or not.

A run writes its features through :class:`rossam_geo.segmentation.LayerSink` in chunks, each chunk one
transaction appended to the GeoPackage layer in place. Writing 10,000 features should therefore cost at most
1.5x per feature what writing 1,000 costs (an output copied at every chunk costs more per feature the larger
it grows: quadratic in its size).

Each size is written from scratch into a new GeoPackage, in chunks of ``--chunk`` features (default 100, so
10 and 100 chunks), with the segment output's fields (a polygon with a hole and the 13 attributes of
``OUTPUT_SCHEMA``) in UTM 33N; each size is timed ``--repeats`` times and the medians compared.

Run: ``python benchmarks/write_features.py [--sizes 1000 10000] [--chunk 100] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def features(start: int, count: int) -> object:
    """``count`` features shaped like the segment output, prompt ids from ``start``."""
    import geopandas as gpd
    import shapely

    from rossam_geo.segmentation import OUTPUT_COLUMNS

    ids = np.arange(start, start + count)
    geoms = [
        shapely.Polygon(
            [(500000 + i, 5000000), (500010 + i, 5000000), (500010 + i, 5000010), (500000 + i, 5000010)],
            [[(500002 + i, 5000002), (500004 + i, 5000002), (500004 + i, 5000004), (500002 + i, 5000004)]],
        )
        for i in ids
    ]
    columns = {
        "prompt_id": ids,
        "class": ["car"] * count,
        "score": np.full(count, 0.9),
        "area": np.full(count, 96.0),
        "area_unit": ["m2"] * count,
        "engine": ["box"] * count,
        "model": ["box"] * count,
        "crop_size": np.full(count, 512),
        "upsample": np.full(count, 2.0),
        "source": ["scene.tif"] * count,
        "created": ["2024-05-01T10:00:00+00:00"] * count,
        "status": ["ok"] * count,
        "reason": [""] * count,
    }
    assert list(columns) == list(OUTPUT_COLUMNS)
    return gpd.GeoDataFrame(columns, geometry=geoms, crs="EPSG:32633")


def write(path: Path, total: int, chunk: int) -> float:
    """Seconds to write ``total`` features in chunks of ``chunk`` through the sink (frames made before)."""
    from rossam_geo.segmentation import LayerSink, OutputTarget

    chunks = [features(start, min(chunk, total - start)) for start in range(0, total, chunk)]
    target = OutputTarget(path, "objects", "create")
    target.check()
    sink = LayerSink(target, every_seconds=3600, every_features=chunk)
    started = time.perf_counter()
    for frame in chunks:
        sink.write(frame)  # type: ignore[arg-type]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000])
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import pyogrio

    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}")
    small, large = args.sizes
    per_feature: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="rossam-write-bench-") as tmp:
        for size in (small, large):
            times = []
            for k in range(args.repeats):
                path = Path(tmp) / f"out_{size}_{k}.gpkg"
                times.append(write(path, size, args.chunk))
                assert pyogrio.read_info(path, layer="objects")["features"] == size
            median = float(np.median(times))
            per_feature[size] = median / size
            print(
                f"{size:6d} features in {size // args.chunk} chunks of {args.chunk}: median {median:.3f} s "
                f"({1e3 * per_feature[size]:.3f} ms per feature; runs {', '.join(f'{t:.3f}' for t in times)})"
            )
    ratio = per_feature[large] / per_feature[small]
    print(f"cost per feature, {large} vs {small}: {ratio:.2f}x (target <= 1.5x)")
    print(f"load average at end (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
