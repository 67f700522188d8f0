"""Benchmark: one ``segment`` request to the QGIS backend (``rossam-geo serve``) against one Python API call.

The worker runs a request as one call of the pipeline (no re-chunking, the raster opened and its stretch
computed once), so a request should cost what the API call costs, plus the JSON round trip. Target: the
request within 1.2x of the API call.

Setup: a 6000 x 6000 px, 3-band uint16 GeoTIFF (tiled, deflate; a textured background with bright objects,
EPSG:32633, 0.5 m), 64 boxes around objects, the ``box`` engine. The backend is a ``rossam-geo serve``
subprocess, warmed up with the engine loaded and one small request; the API side is a
:class:`rossam_geo.Segmenter` in this process, warmed up the same way. Both segment the same boxes given in
the raster's CRS; each is timed ``--repeats`` times, alternating, and the medians are compared. The worker's
time runs from sending the request to receiving the whole result (the FeatureCollection, parsed).

Run: ``python benchmarks/worker_request.py [--boxes 64] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE_PX = 6000
CRS = "EPSG:32633"
TRANSFORM = (0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)


def write_scene(path: Path, n_boxes: int, seed: int = 0) -> list[list[float]]:
    """Write the uint16 scene; return the boxes (XYXY, scene CRS) of ``n_boxes`` of its objects."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    transform = Affine(*TRANSFORM)
    profile = dict(
        driver="GTiff", width=SIZE_PX, height=SIZE_PX, count=3, dtype="uint16", crs=CRS,
        transform=transform, tiled=True, blockxsize=512, blockysize=512, compress="deflate",
    )  # fmt: skip
    per_side = int(np.ceil(np.sqrt(n_boxes)))
    step = SIZE_PX // (per_side + 1)
    boxes = []
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, SIZE_PX, 1000):
            for col in range(0, SIZE_PX, 1000):
                block = rng.integers(800, 1600, (3, 1000, 1000), dtype=np.uint16)
                dst.write(block, window=Window(col, row, 1000, 1000))
        for k in range(n_boxes):
            cx, cy = step * (1 + k % per_side), step * (1 + k // per_side)
            w, h = (int(v) for v in rng.integers(10, 60, 2))
            obj = np.full((3, h, w), 20000, np.uint16)
            dst.write(obj, window=Window(cx - w // 2, cy - h // 2, w, h))
            x0, y0 = cx - w // 2 - 3, cy - h // 2 - 3
            x1, y1 = x0 + w + 6, y0 + h + 6
            left, top = transform * (x0, y0)
            right, bottom = transform * (x1, y1)
            boxes.append([left, bottom, right, top])
    return boxes


class Backend:
    """A ``rossam-geo serve`` subprocess speaking JSON-RPC over its stdin/stdout."""

    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rossam_geo", "serve", "-q"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.next_id = 0

    def call(self, method: str, params: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        while True:
            message = json.loads(self.proc.stdout.readline())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message["result"]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.call("shutdown", {})
        self.proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from rossam_geo import Segmenter

    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="rossam-worker-bench-") as tmp:
        scene = Path(tmp) / "scene_u16.tif"
        started = time.perf_counter()
        boxes = write_scene(scene, args.boxes)
        print(f"wrote {SIZE_PX} x {SIZE_PX} px uint16 scene ({scene.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s; {len(boxes)} boxes, box engine")  # fmt: skip

        segmenter = Segmenter("box")
        backend = Backend()
        try:
            backend.call("load_model", {"engine": "box"})
            params = {"raster": str(scene), "boxes": boxes, "crs": CRS}
            backend.call("segment", {**params, "boxes": boxes[:1]})  # warm-up
            segmenter.segment(scene, np.asarray(boxes[:1]), boxes_crs=CRS)
            api_s, worker_s = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                features = segmenter.segment(scene, np.asarray(boxes), boxes_crs=CRS)
                api_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                result = backend.call("segment", params)
                worker_s.append(time.perf_counter() - t0)
            assert len(features) == len(result["features"]) == len(boxes)
            assert [f["properties"]["status"] for f in result["features"]] == list(features["status"])
        finally:
            backend.close()
    api, worker = float(np.median(api_s)), float(np.median(worker_s))
    for label, median, runs in (
        ("API call (Segmenter.segment)", api, api_s),
        ("worker request", worker, worker_s),
    ):
        print(f"{label}: median {median:.3f} s of {args.repeats} ({', '.join(f'{t:.3f}' for t in runs)})")
    print(f"ratio worker / API: {worker / api:.2f}x (target <= 1.2x)")
    print(f"load average at end (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
