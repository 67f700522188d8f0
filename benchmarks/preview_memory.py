"""Benchmark: peak memory of ``--preview`` on a 50000 x 50000 px raster with boxes at opposite corners.

Writes a sparse, tiled (512 px), deflate-compressed RGB GeoTIFF (only the two corner tiles hold data, so the
file is about 100 KB and written in a second), then renders the preview of two boxes at opposite corners, so
the preview window is the whole raster, decimated 49 times. Each measurement runs in its own child process
and reports that process's peak resident memory (``getrusage`` ru_maxrss) and its resident memory before the
render, so imports do not count twice:

* current: ``rossam_geo.preview.render_preview`` over the file (GDAL decimates with ``out_shape``, block
  cache held to 64 MB during the read);
* baseline: the approach this replaced, ``rossam_geo.preview.read_decimated_strips`` over the file:
  full-resolution strips of 128 output rows shrunk with OpenCV ``INTER_AREA``, on a smaller raster
  (``--baseline-size``, default 12000 px: the baseline's memory grows with the raster's width, and at
  50000 px it needs several GB), next to the current approach on that same raster.

Run: ``python benchmarks/preview_memory.py [--size 50000] [--baseline-size 12000] [--overviews]``.
Prints peak memory in MiB, seconds, and the ratio baseline / current; fails when the current approach peaks
at 1 GiB or more on the large raster.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TILE_PX = 512
CRS = "EPSG:32633"
TRANSFORM = (0.5, 0.0, 400_000.0, 0.0, -0.5, 5_100_000.0)
LIMIT_BYTES = 1024**3
MAX_SIDE_PX = 1024


def write_corner_scene(path: Path, size_px: int, overviews: bool) -> np.ndarray:
    """Write a sparse size_px x size_px RGB GeoTIFF with objects in two opposite corner tiles.

    Returns:
        (2, 4) XYXY pixel boxes around the two objects.
    """
    import cv2
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    profile = dict(
        driver="GTiff", width=size_px, height=size_px, count=3, dtype="uint8", crs=CRS,
        transform=Affine(*TRANSFORM), tiled=True, blockxsize=TILE_PX, blockysize=TILE_PX,
        compress="deflate", sparse_ok=True, BIGTIFF="IF_SAFER",
    )  # fmt: skip
    patch = np.full((TILE_PX, TILE_PX, 3), 90, np.uint8)
    cv2.ellipse(patch, (256, 256), (60, 30), 20, 0, 360, (230, 230, 230), -1)
    far = size_px - TILE_PX
    with rasterio.open(path, "w", **profile) as dst:
        for off in (0, far):
            dst.write(patch.transpose(2, 0, 1), window=Window(off, off, TILE_PX, TILE_PX))
        if overviews:
            dst.build_overviews([4, 16, 64], Resampling.average)
    return np.array([[190.0, 220.0, 322.0, 292.0], [far + 190.0, far + 220.0, far + 322.0, far + 292.0]])


def rss_now_bytes() -> int:
    """Resident memory of this process now (Linux /proc), else 0."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _measure(path: str, boxes_px: np.ndarray, approach: str, queue: multiprocessing.Queue) -> None:
    """Child process: render one preview; put (rss before, peak after, seconds, image shape) on ``queue``."""
    import shapely

    from rossam_geo import io
    from rossam_geo.pipeline.run import ReaderSource
    from rossam_geo.preview import preview_window, read_decimated_strips, render_preview

    with io.open_raster(path) as reader:
        source = ReaderSource(reader)
        geometries = []
        for x0, y0, x1, y1 in boxes_px:
            (xa, ya), (xb, yb) = (reader.info.transform @ (x, y) for x, y in ((x0, y0), (x1, y1)))
            geometries.append(shapely.box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)).buffer(-1.0))
        before = rss_now_bytes()
        started = time.perf_counter()
        if approach == "current":
            image = render_preview(
                source, boxes_px, geometries, reader.info.transform, max_side_px=MAX_SIDE_PX
            )
        else:
            window = preview_window(boxes_px, source.width, source.height)
            if window is None:
                raise SystemExit("the boxes lie outside the raster")
            factor = max(1, math.ceil(max(window[2], window[3]) / MAX_SIDE_PX))
            image = read_decimated_strips(source, window, factor)
        seconds = time.perf_counter() - started
    queue.put((before, peak_rss_bytes(), seconds, image.shape))


def measure(path: Path, boxes_px: np.ndarray, approach: str) -> tuple[int, int, float, tuple[int, ...]]:
    """Run :func:`_measure` in a fresh process (so each peak is its own)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_measure, args=(str(path), boxes_px, approach, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def _write(path: Path, size_px: int, overviews: bool, boxes_path: Path) -> None:
    np.save(boxes_path, write_corner_scene(path, size_px, overviews))


def scene(folder: Path, size_px: int, overviews: bool) -> tuple[Path, np.ndarray]:
    """Write a scene in a child process (GDAL's write cache is not counted anywhere)."""
    path = folder / f"corners_{size_px}.tif"
    boxes_path = folder / f"boxes_{size_px}.npy"
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=_write, args=(path, size_px, overviews, boxes_path)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"writing the {size_px} px scene failed (exit code {child.exitcode})")
    print(
        f"wrote {size_px}x{size_px} RGB sparse tiled GeoTIFF ({path.stat().st_size / 1e3:.0f} kB, overviews: "
        f"{overviews}) in {time.perf_counter() - started:.1f} s"
    )
    return path, np.load(boxes_path)


def report(label: str, result: tuple[int, int, float, tuple[int, ...]]) -> int:
    before, peak, seconds, shape = result
    print(
        f"{label:44s}: peak {peak / 2**20:6.0f} MiB (before the render {before / 2**20:4.0f} MiB, "
        f"growth {(peak - before) / 2**20:6.0f} MiB), {seconds:6.2f} s, image {shape[1]}x{shape[0]}"
    )
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000, help="side of the large raster, px")
    parser.add_argument("--baseline-size", type=int, default=12_000, help="side of the baseline raster, px")
    parser.add_argument("--overviews", action="store_true", help="build overviews (4, 16, 64) too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, small_boxes = scene(folder, args.baseline_size, args.overviews)
        base_peak = report(
            f"baseline (strips), {args.baseline_size} px", measure(small, small_boxes, "baseline")
        )
        cur_small = report(
            f"current (GDAL out_shape), {args.baseline_size} px", measure(small, small_boxes, "current")
        )
        print(f"peak ratio baseline / current at {args.baseline_size} px: {base_peak / cur_small:.1f}")
        large, large_boxes = scene(folder, args.size, args.overviews)
        peak = report(f"current (GDAL out_shape), {args.size} px", measure(large, large_boxes, "current"))
    if peak >= LIMIT_BYTES:
        print(f"FAIL: the preview of the {args.size} px raster peaks at 1 GiB or more")
        return 1
    print(f"OK: the preview of the {args.size} px raster peaks under 1 GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
