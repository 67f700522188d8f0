"""Benchmark: segment 100 boxes in a 40000 x 40000 px GeoTIFF without reading the raster whole.

Writes a sparse, tiled (512 px), deflate-compressed RGB GeoTIFF into a temporary folder (only the tiles
around the objects hold data, so the file is small and fast to make), then segments 100 boxes through the
Python API with the ``box`` and ``grabcut`` engines. Prints the file size, the time per box of each engine,
and the peak resident memory (``resource.getrusage`` ru_maxrss, and psutil when installed), which must stay
under 1 GiB.

Run: ``python benchmarks/large_raster.py [--overviews] [--boxes 100]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE_PX = 40_000
TILE_PX = 512
CRS = "EPSG:32633"
#: 0.5 m pixels; upper-left corner at 400000 E, 5100000 N
TRANSFORM = (0.5, 0.0, 400_000.0, 0.0, -0.5, 5_100_000.0)
LIMIT_BYTES = 1024**3


def write_sparse_scene(path: Path, n_boxes: int, rng: np.random.Generator, overviews: bool) -> np.ndarray:
    """Write the sparse scene; return the (n_boxes, 4) XYXY pixel boxes of its objects."""
    import cv2
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    profile = dict(
        driver="GTiff", width=SIZE_PX, height=SIZE_PX, count=3, dtype="uint8", crs=CRS,
        transform=Affine(*TRANSFORM), tiled=True, blockxsize=TILE_PX, blockysize=TILE_PX,
        compress="deflate", sparse_ok=True, BIGTIFF="IF_SAFER",
    )  # fmt: skip
    per_patch = 10
    patch_px = 2 * TILE_PX
    boxes = []
    with rasterio.open(path, "w", **profile) as dst:
        n_patches = -(-n_boxes // per_patch)
        grid = SIZE_PX // patch_px
        cells = rng.choice(grid * grid, size=n_patches, replace=False)
        for cell in cells:
            col_off, row_off = int(cell % grid) * patch_px, int(cell // grid) * patch_px
            patch = np.empty((patch_px, patch_px, 3), np.uint8)
            patch[:] = rng.integers(70, 110, 3, dtype=np.uint8)
            patch = cv2.add(patch, rng.integers(0, 6, patch.shape, dtype=np.uint8))
            for _ in range(min(per_patch, n_boxes - len(boxes))):
                w, h = (int(v) for v in rng.integers(12, 90, 2))
                x, y = (int(v) for v in rng.integers(20, patch_px - 110, 2))
                colour = tuple(int(v) for v in rng.integers(170, 255, 3))
                cv2.ellipse(patch, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
                boxes.append((col_off + x - 3, row_off + y - 3, col_off + x + w + 3, row_off + y + h + 3))
            dst.write(patch.transpose(2, 0, 1), window=Window(col_off, row_off, patch_px, patch_px))
        if overviews:
            dst.build_overviews([4, 16, 64], Resampling.average)
    return np.asarray(boxes, dtype=np.float64)


def _write_in_child(path: Path, n_boxes: int, overviews: bool, boxes_path: Path) -> None:
    """Write the scene (run in a child process, so GDAL's write cache is not counted in our peak RSS)."""
    boxes = write_sparse_scene(path, n_boxes, np.random.default_rng(0), overviews)
    np.save(boxes_path, boxes)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=100)
    parser.add_argument("--overviews", action="store_true", help="build overviews (4, 16, 64) too")
    args = parser.parse_args()

    import multiprocessing

    import rossam_geo

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.tif"
        started = time.perf_counter()
        boxes_path = Path(tmp) / "boxes.npy"
        child = multiprocessing.get_context("spawn").Process(
            target=_write_in_child, args=(path, args.boxes, args.overviews, boxes_path)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            print(f"writing the scene failed (exit code {child.exitcode})")
            return 1
        boxes_px = np.load(boxes_path)
        print(
            f"wrote {SIZE_PX}x{SIZE_PX} RGB sparse GeoTIFF ({path.stat().st_size / 1e6:.1f} MB on disk, "
            f"overviews: {args.overviews}) in {time.perf_counter() - started:.1f} s"
        )
        # boxes as map coordinates in the scene CRS
        a, _, c, _, e, f = TRANSFORM
        boxes_map = np.column_stack(
            [c + a * boxes_px[:, 0], f + e * boxes_px[:, 3], c + a * boxes_px[:, 2], f + e * boxes_px[:, 1]]
        )
        print(f"RSS before segmenting: {peak_rss_bytes() / 2**20:.0f} MiB (peak so far)")
        for engine in ("box", "grabcut"):
            started = time.perf_counter()
            features = rossam_geo.segment(path, boxes_map, engine=engine, boxes_crs=CRS)
            seconds = time.perf_counter() - started
            ok = int((features["status"] == "ok").sum())
            print(
                f"{engine:8s}: {len(features)} boxes ({ok} ok) in {seconds:.2f} s = "
                f"{1000 * seconds / len(features):.1f} ms per box"
            )
    peak = peak_rss_bytes()
    print(f"peak RSS of the segmenting process (getrusage): {peak / 2**20:.0f} MiB")
    try:
        import psutil

        print(f"RSS now (psutil): {psutil.Process().memory_info().rss / 2**20:.0f} MiB")
    except ImportError:
        print("psutil not installed; getrusage only")
    if peak >= LIMIT_BYTES:
        print("FAIL: peak RSS is 1 GiB or more")
        return 1
    print("OK: peak RSS under 1 GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
