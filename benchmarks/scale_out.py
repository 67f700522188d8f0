"""Throughput of the distributed segment job: 1 vs 2 local Dask workers on the ``grabcut`` engine.

Writes N generated scenes (seeded textured background with coloured vehicles, uint8 RGB GeoTIFFs in UTM 33N)
and one CSV of pixel boxes into a temporary folder, starts a LocalCluster (127.0.0.1, one thread per worker
process) of each size, warms every worker (imports, engine), then times ``run_segment_distributed`` over all
scenes. Prints boxes/s for each size, the scaling ratio and the 1-minute load average before and after (the
machine may be shared).

    .venv/bin/python benchmarks/scale_out.py --scenes 8 --boxes 12
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine


def make_scenes(
    folder: Path, n_scenes: int, n_boxes: int, size: int = 640, seed: int = 0
) -> tuple[list[str], Path]:
    rng = np.random.default_rng(seed)
    boxes = []
    for k in range(n_boxes):
        w, h = rng.integers(24, 60, size=2)
        x = 40 + (k % 4) * (size - 80) // 4 + rng.integers(0, 40)
        y = 40 + (k // 4) * (size - 80) // max(1, (n_boxes + 3) // 4) + rng.integers(0, 20)
        boxes.append((int(x), int(y), int(x + w), int(y + h)))
    scenes = []
    for s in range(n_scenes):
        gray = rng.integers(70, 150, size=(size, size), dtype=np.uint8)
        data = np.stack([gray, gray, gray])
        for x0, y0, x1, y1 in boxes:
            colour = rng.integers(0, 256, size=3)
            data[:, y0 + 4 : y1 - 4, x0 + 4 : x1 - 4] = colour[:, None, None]
        path = folder / f"scene_{s:03d}.tif"
        profile = dict(
            driver="GTiff",
            width=size,
            height=size,
            count=3,
            dtype="uint8",
            crs="EPSG:32633",
            transform=Affine(0.5, 0, 500000 + 1000 * s, 0, -0.5, 5000000),
        )
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
        scenes.append(str(path))
    csv = folder / "boxes.csv"
    csv.write_text("xmin,ymin,xmax,ymax\n" + "\n".join(",".join(map(str, b)) for b in boxes) + "\n")
    return scenes, csv


def time_workers(n_workers: int, scenes: list[str], csv: Path, out_dir: Path) -> tuple[float, int]:
    from rossam_geo.distributed import connect, run_segment_distributed, warm_workers

    with connect(f"local:{n_workers}") as client:
        warm_workers(client, "grabcut")
        started = time.perf_counter()
        result = run_segment_distributed(
            scenes, csv, out_dir / f"w{n_workers}.gpkg", client, engine="grabcut", pixel=True
        )
        elapsed = time.perf_counter() - started
    if result.failed:
        raise RuntimeError(f"scenes failed: {result.failed}")
    return elapsed, result.features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--boxes", type=int, default=12, help="boxes per scene")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scenes, csv = make_scenes(folder, args.scenes, args.boxes)
        print(f"{len(scenes)} scenes x {args.boxes} boxes, grabcut engine, cpu count {os.cpu_count()}")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        rates = {}
        for n in args.workers:
            elapsed, features = time_workers(n, scenes, csv, folder)
            rates[n] = features / elapsed
            print(
                f"{n} worker(s): {features} boxes in {elapsed:.2f} s = {rates[n]:.2f} boxes/s "
                f"(load {os.getloadavg()[0]:.2f})"
            )
        if 1 in rates:
            for n, rate in rates.items():
                if n != 1:
                    print(f"scaling {n} vs 1 workers: {rate / rates[1]:.2f}x (ideal {n}x)")


if __name__ == "__main__":
    main()
