"""End-to-end throughput of the segment pipeline: reference SAM loop vs our fp32 path vs our fast path.

For each model size, random weights are written in the official SAM layout and loaded through our checkpoint
loader; one generated GeoTIFF with N boxes (a GeoPackage in the scene CRS) is segmented through
``Segmenter.segment_scene`` (prompts read, windows read, resampling, encoder, decoders, paste-back, polygons):

1. reference: fp32, batch 1, ``segment_anything.SamPredictor`` on each 2x crop (set_image, predict with the
   box, ``multimask_output=False``);
2. ours fp32: ROS-SAM (LoRA rank 16, merged), fp32, SAM's attention, batch 1, no prefetch, host resampling;
3. ours fast: the engine's defaults on the device (on CUDA: bf16-true encoder, folded attention, compiled
   blocks, batch from free memory, device-side resampling), 2 batches prefetched.

With ``--levers`` (default on CUDA: the first model) the levers of the fast path are added one at a time, each
timed engine-only (``engine.predict`` / ``predict_windows`` on random crops in the engine's batches): the
landed fast path (bf16 autocast, SDPA with a materialised bias), + folded attention, + bf16-true encoder,
+ compiled blocks, + device-side resampling. The first call of a compiled engine (the compilation) is timed
and printed.

Each path also prints the busy time per box of each pipeline stage (window reads and resampling, engine,
polygons, writes; summed over the threads and processes running the stage).

Run from the repository root (CPU: vit_b, 4 boxes by default; CUDA: all sizes):

    python benchmarks/throughput.py [--models vit_l vit_b vit_h] [--boxes N] [--reference-boxes N]

The FLOP floor is N x (encoder FLOPs per 1024 px crop, counted with ``FlopCounterMode``) / peak FLOP/s.
The peak is ``--peak-tflops`` (default on CUDA: a measured dense bf16 matmul; on the CPU none, so the column
reads n/a). The same peak is used for every row, so the fp32 rows show their share of the device's bf16 peak.
Agreement with our fp32 path is measured on the polygons of the first reference boxes: polygon IoU, and pixel
agreement over the box windows (1 - area of the symmetric difference / window area).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rossam_geo.api import Segmenter
from rossam_geo.engines.base import EnginePrediction
from rossam_geo.engines.sam import build_rossam_engine
from rossam_geo.model.build import build_rossam, get_config
from rossam_geo.model.checkpoint import load_official

H100_BF16_DENSE_TFLOPS = 989.0
MODELS = ("vit_b", "vit_l", "vit_h")


# ------------------------------------------------------------------------------------------------ inputs
class PromptFiles(dict):
    """Box count -> GeoPackage of the first that many boxes, written on first use."""

    def __init__(self, folder: Path, polygons: list[object], crs: str) -> None:
        super().__init__()
        self.folder, self.polygons, self.crs = folder, polygons, crs

    def __missing__(self, n_boxes: int) -> Path:
        import geopandas as gpd

        path = self.folder / f"boxes_{n_boxes}.gpkg"
        frame = gpd.GeoDataFrame(
            {"class": ["ship"] * n_boxes}, geometry=self.polygons[:n_boxes], crs=self.crs
        )
        frame.to_file(path)
        self[n_boxes] = path
        return path


def write_scene(folder: Path, n_boxes: int, seed: int = 0) -> tuple[Path, PromptFiles]:
    """A 3-band uint8 GeoTIFF (UTM 33N, 0.5 m) with ``n_boxes`` ellipses, and GeoPackages of their boxes.

    Objects sit on a grid 96 px apart, 8 to 40 px across, on a textured background.
    """
    import rasterio
    import shapely
    from affine import Affine

    rng = np.random.default_rng(seed)
    per_row = max(1, int(np.ceil(np.sqrt(n_boxes))))
    side = 96 * per_row + 256
    rows, cols = np.mgrid[0:side, 0:side]
    image = np.stack(
        [80 + 30 * np.sin(cols / 9.0), 90 + 30 * np.cos(rows / 7.0), 70 + 20 * np.sin((rows + cols) / 13.0)]
    )
    image = image + rng.normal(0, 8, image.shape)
    boxes = []
    for k in range(n_boxes):
        cy, cx = (
            128 + 96 * (k // per_row) + rng.integers(-10, 10),
            128 + 96 * (k % per_row) + rng.integers(-10, 10),
        )
        ry, rx = rng.integers(4, 20, 2)
        r0, c0 = cy - ry, cx - rx  # the ellipse's bounding patch
        patch_rows, patch_cols = (
            rows[r0 : cy + ry + 1, c0 : cx + rx + 1],
            cols[r0 : cy + ry + 1, c0 : cx + rx + 1],
        )
        inside = ((patch_rows - cy) / ry) ** 2 + ((patch_cols - cx) / rx) ** 2 <= 1
        image[:, r0 : cy + ry + 1, c0 : cx + rx + 1][:, inside] = np.array([230, 225, 200])[:, None]
        boxes.append((cx - rx - 2, cy - ry - 2, cx + rx + 2, cy + ry + 2))
    transform = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_000_000.0)
    scene = folder / "scene.tif"
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs="EPSG:32633")
    with rasterio.open(scene, "w", transform=transform, tiled=True, **profile) as dst:
        dst.write(np.clip(image, 0, 255).astype(np.uint8))
    polygons = [
        shapely.affinity.affine_transform(
            shapely.box(*b),
            [transform.a, transform.b, transform.d, transform.e, transform.xoff, transform.yoff],
        )
        for b in boxes
    ]
    return scene, PromptFiles(folder, polygons, "EPSG:32633")


def write_random_official(folder: Path, model: str) -> Path:
    """Random-init ``segment_anything`` weights saved as an official-layout state dict."""
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    sam = sam_model_registry[model]()
    path = folder / f"sam_{model}_random.pth"
    torch.save(sam.state_dict(), path)
    del sam
    return path


def encoder_flops(model: str) -> int:
    """FLOPs of one image-encoder pass over a 1024 px crop (counted on the meta device)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = get_config(model)
    with torch.device("meta"):
        net = build_rossam(cfg, lora_rank=0)
        images = torch.empty(1, 3, cfg.image_size_px, cfg.image_size_px)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net.image_encoder(images)
    return int(counter.get_total_flops())


# ----------------------------------------------------------------------------------------------- engines
class ReferenceLoopEngine:
    """The reference loop as an engine: ``SamPredictor.set_image`` + ``predict`` per crop, fp32, batch 1."""

    name = "sam-predictor"
    max_batch = 1

    def __init__(self, checkpoint: Path, model: str, device: torch.device) -> None:
        from segment_anything import SamPredictor, sam_model_registry

        sam = sam_model_registry[model]()
        sam.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        self.predictor = SamPredictor(sam.to(device).eval())
        self.input_size_px = sam.image_encoder.img_size
        self.model_name = f"{checkpoint.name} (segment_anything.SamPredictor)"

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        logits, scores = [], []
        for image, box in zip(images_rgb_u8, boxes_px_xyxy, strict=True):
            self.predictor.set_image(image)
            masks, iou, _ = self.predictor.predict(box=box, multimask_output=False, return_logits=True)
            logits.append(masks[0].astype(np.float32))
            scores.append(float(iou[0]))
        return EnginePrediction(np.stack(logits), np.asarray(scores, np.float32))


def ours_engine(checkpoint: Path, device: torch.device, mode: str, **options: Any) -> object:
    """Our engine on the official-layout ``checkpoint``, LoRA rank 16; the same LoRA factors and HQ decoder
    (not in a SAM file) on every path, from one seed."""
    torch.manual_seed(1)
    base = load_official(checkpoint, lora_rank=16)
    return build_rossam_engine(model=base, device=str(device), mode=mode, **options)


class RecordingEngine:
    """Passes calls to an engine, keeps a copy of the logits of the first ``record_boxes`` boxes (for the
    agreement columns) and adds up the seconds spent inside the engine's ``predict``."""

    def __init__(self, engine: object, record_boxes: int) -> None:
        self.engine = engine
        self.record_boxes = record_boxes
        self.logits: list[np.ndarray] = []
        self.engine_seconds = 0.0
        for attr in ("name", "model_name", "input_size_px", "max_batch", "prefetch_batches", "takes_windows"):
            if hasattr(engine, attr):
                setattr(self, attr, getattr(engine, attr))

    def predict(self, images_rgb_u8: np.ndarray, boxes_px_xyxy: np.ndarray) -> EnginePrediction:
        start = time.perf_counter()
        prediction = self.engine.predict(images_rgb_u8, boxes_px_xyxy)  # type: ignore[attr-defined]
        self.engine_seconds += time.perf_counter() - start
        room = self.record_boxes - len(self.logits)
        self.logits.extend(np.array(x, copy=True) for x in prediction.mask_logits[: max(room, 0)])
        return prediction

    def predict_windows(self, windows: np.ndarray, boxes: np.ndarray, model_hw: tuple[int, int]) -> Any:
        start = time.perf_counter()
        prediction = self.engine.predict_windows(windows, boxes, model_hw)  # type: ignore[attr-defined]
        self.engine_seconds += time.perf_counter() - start
        return prediction


# ----------------------------------------------------------------------------------------------- measure
def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: CUDA allocator statistics, or the process's peak RSS (Linux clear_refs)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_gib(device: torch.device) -> float:
    """Peak device memory (CUDA) or peak RSS (CPU) since :func:`reset_peak_memory`, GiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1024**3
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


@dataclass
class PathResult:
    label: str
    seconds: float
    engine_seconds: float
    n_boxes: int
    peak_gib: float
    logits: list[np.ndarray]
    geometries: list[object]
    notes: str


def run_path(
    label: str,
    engine: object,
    prompts: dict[int, Path],
    n_boxes: int,
    record_boxes: int,
    scene: Path,
    device: torch.device,
    warmup: int,
    notes: str,
) -> PathResult:
    """Segment the first ``warmup`` boxes untimed, then time the run over the first ``n_boxes``.

    ``prompts`` maps box counts to GeoPackages holding the first that many boxes (read inside the timing).
    """
    recorder = RecordingEngine(engine, record_boxes)
    segmenter = Segmenter(recorder)  # type: ignore[arg-type]
    if warmup:
        segmenter.segment_scene(scene, prompts[warmup])
        recorder.logits.clear()
        recorder.engine_seconds = 0.0
    reset_peak_memory(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = segmenter.segment_scene(scene, prompts[n_boxes])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    ok = int((result.features["status"] == "ok").sum())
    statuses = f"{ok}/{len(result.features)} ok"
    print(
        f"  {label}: {1000 * seconds / max(len(result.features), 1):.1f} ms/box, engine busy "
        f"{recorder.engine_seconds / seconds:.0%}, peak {peak_memory_gib(device):.2f} GiB; {notes}; "
        f"{statuses}",
        flush=True,
    )
    print(f"    stages (busy time): {result.timings.summary()}", flush=True)
    return PathResult(
        label,
        seconds,
        recorder.engine_seconds,
        len(result.features),
        peak_memory_gib(device),
        recorder.logits,
        list(result.geometries_scene)[:record_boxes],
        f"{notes}; {statuses}",
    )


def run_engine_only(label: str, engine: object, n_boxes: int, device: torch.device) -> PathResult:
    """Time ``engine.predict`` alone over ``n_boxes`` random crops, in the engine's batches (no reading,
    resampling, paste-back or polygons): the device part of the fast path, host copies of the logits included.
    """
    call, batch = engine_call(engine)
    start = time.perf_counter()
    call(batch)
    sync(device)
    first_call = time.perf_counter() - start
    reset_peak_memory(device)
    start = time.perf_counter()
    done = 0
    while done < n_boxes:
        take = min(batch, n_boxes - done)
        call(take)
        done += take
    sync(device)
    seconds = time.perf_counter() - start
    print(
        f"  {label}: {1000 * seconds / n_boxes:.1f} ms/box (first call {first_call:.1f} s), batch {batch}, "
        f"peak {peak_memory_gib(device):.2f} GiB",
        flush=True,
    )
    notes = f"batch {batch}; first call {first_call:.1f} s"
    return PathResult(label, seconds, seconds, n_boxes, peak_memory_gib(device), [], [], notes)


def engine_call(engine: Any) -> tuple[Any, int]:
    """``(call(k), batch)``: ``call`` runs the engine on k random inputs, model-sized crops through
    ``predict``, or 2x-smaller raster windows through ``predict_windows`` for device-resampling engines."""
    size = int(engine.input_size_px)
    batch = int(engine.max_batch)
    rng = np.random.default_rng(3)
    side = size // 2 if engine.takes_windows else size
    images = rng.integers(0, 256, (batch, side, side, 3), dtype=np.uint8)
    boxes = np.tile(np.array([[side * 0.4, side * 0.4, side * 0.6, side * 0.6]], np.float32), (batch, 1))
    if engine.takes_windows:
        return (lambda k: engine.predict_windows(images[:k], boxes[:k], (size, size))), batch
    return (lambda k: engine.predict(images[:k], boxes[:k])), batch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_engine(engine: object, device: torch.device, rows: int = 20) -> str:
    """Profile one full batch of ``engine.predict`` on random crops; the table of the ``rows`` operators
    with the most device time (CUDA) or CPU time, self time only."""
    from torch.profiler import ProfilerActivity, profile

    call, batch = engine_call(engine)
    call(batch)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        call(batch)
        sync(device)
    sort_by = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return str(prof.key_averages().table(sort_by=sort_by, row_limit=rows))


def mask_parts(logits: list[np.ndarray]) -> float:
    """Mean count of 4-connected parts of the masks (logits > 0): how speckled the masks to polygonize are."""
    import cv2

    counts = [cv2.connectedComponents((x > 0).astype(np.uint8), connectivity=4)[0] - 1 for x in logits]
    return float(np.mean(counts)) if counts else float("nan")


def agreement(fast: PathResult, fp32: PathResult, window_area: float) -> tuple[float, float]:
    """(mean polygon IoU, pixel agreement over the box windows) over the boxes both paths segmented; pixel
    agreement is 1 - area(A xor B) / ``window_area`` (scene units) per box, averaged."""
    n = min(len(fast.geometries), len(fp32.geometries))
    ious, pixels = [], []
    for ga, gb in zip(fast.geometries[:n], fp32.geometries[:n], strict=True):
        union = ga.union(gb).area  # type: ignore[attr-defined]
        ious.append(1.0 if union == 0 else ga.intersection(gb).area / union)  # type: ignore[attr-defined]
        pixels.append(1.0 - ga.symmetric_difference(gb).area / window_area)  # type: ignore[attr-defined]
    return float(np.mean(ious)), float(np.mean(pixels))


def free(*objects: object) -> None:
    del objects
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------ report
def measure_peak_tflops(device: torch.device, side: int = 8192, repeats: int = 10) -> float:
    """Dense bf16 matrix-product rate of ``device`` (TFLOP/s): median of ``repeats`` timed products of two
    random ``side`` x ``side`` matrices after 3 warm-ups, timed with CUDA events."""
    a = torch.randn(side, side, device=device, dtype=torch.bfloat16)
    b = torch.randn(side, side, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1000)
    free(a, b)
    return 2 * side**3 / float(np.median(times)) / 1e12


def print_table(model: str, rows: list[PathResult], flops: int, peak_tflops: float | None, device) -> None:
    reference_per_box = rows[0].seconds / rows[0].n_boxes
    mem_label = "peak GPU GiB" if device.type == "cuda" else "peak RSS GiB"
    header = (
        f"| {model} path | boxes | boxes/s | ms/box | {mem_label} | speedup | FLOP floor reached "
        "| engine busy | notes |"
    )
    print(header)
    print("|" + "---|" * 9)
    for row in rows:
        per_box = row.seconds / row.n_boxes
        floor = "n/a"
        if peak_tflops:
            floor = f"{row.n_boxes * flops / (peak_tflops * 1e12) / row.seconds:.1%}"
        print(
            f"| {row.label} | {row.n_boxes} | {row.n_boxes / row.seconds:.3f} | {1000 * per_box:.1f} | "
            f"{row.peak_gib:.2f} | {reference_per_box / per_box:.2f}x | {floor} | "
            f"{row.engine_seconds / row.seconds:.0%} | {row.notes} |"
        )


#: the levers of the fast path, each added to the previous ones: (label, engine options).
LEVERS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "landed fast path (bf16 autocast, sdpa)",
        dict(precision="bf16-mixed", attention="sdpa", compile=False, device_resample=False),
    ),
    (
        "+ folded attention",
        dict(precision="bf16-mixed", attention="folded", compile=False, device_resample=False),
    ),
    (
        "+ bf16-true encoder",
        dict(precision="bf16-true", attention="folded", compile=False, device_resample=False),
    ),
    (
        "+ compiled blocks",
        dict(precision="bf16-true", attention="folded", compile=True, device_resample=False),
    ),
    (
        "+ device resampling",
        dict(precision="bf16-true", attention="folded", compile=True, device_resample=True),
    ),
)


class Deadline:
    """Skips rows once ``minutes`` have passed since the start (so a time-limited run still prints)."""

    def __init__(self, minutes: float | None) -> None:
        self.end = None if minutes is None else time.monotonic() + 60 * minutes

    def passed(self, label: str) -> bool:
        if self.end is not None and time.monotonic() > self.end:
            print(f"  {label}: skipped, the --deadline-min has passed", flush=True)
            return True
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, help="default: all on CUDA, vit_b on the CPU")
    parser.add_argument("--boxes", type=int, help="boxes for the fast path (default 256 on CUDA, 4 on CPU)")
    parser.add_argument(
        "--reference-boxes",
        type=int,
        help="boxes for the reference loop and our fp32 path, the first of the scene's (default 16 on CUDA, "
        "all on the CPU); the agreement is measured over them",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--levers",
        nargs="*",
        choices=MODELS,
        help="models whose fast-path levers are timed one at a time (default on CUDA: the first model)",
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="device peak, TFLOP/s (default on CUDA: a measured bf16 matmul)"
    )
    parser.add_argument("--batch-size", default="auto", help="fast-path batch ('auto': from free memory)")
    parser.add_argument(
        "--warmup",
        type=int,
        help="untimed boxes first on the reference and fp32 paths (default 2 on CUDA, 0 on CPU); the fast "
        "path warms up on one full batch",
    )
    parser.add_argument("--mode", default="hq", choices=("hq", "sam", "sam+hq"), help="our predict mode")
    parser.add_argument(
        "--profile", action="store_true", help="print the operators of one fast-path batch (torch.profiler)"
    )
    parser.add_argument("--deadline-min", type=float, help="skip the rows that would start after this")
    args = parser.parse_args()

    from rossam_geo.engines.device import resolve_device

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    deadline = Deadline(args.deadline_min)
    models = args.models or (list(MODELS) if cuda else ["vit_b"])
    levers = args.levers if args.levers is not None else (models[:1] if cuda else [])
    n_boxes = args.boxes or (256 if cuda else 4)
    n_reference = min(args.reference_boxes or (16 if cuda else n_boxes), n_boxes)
    warmup = args.warmup if args.warmup is not None else (2 if cuda else 0)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} logical CPUs)"
    print(f"device: {name}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}")
    peak_tflops = args.peak_tflops
    if peak_tflops is None and cuda:
        peak_tflops = measure_peak_tflops(device)
        print(f"measured dense bf16 matmul (8192^3): {peak_tflops:.0f} TFLOP/s (the FLOP-floor peak)")
    print(
        f"fast path: {n_boxes} boxes; reference loop and ours fp32: the first {n_reference}; warm-up "
        f"{warmup} boxes; peak {f'{peak_tflops:.0f}' if peak_tflops else 'n/a'} TFLOP/s\n",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="rossam-throughput-") as tmp:
        folder = Path(tmp)
        scene, prompts = write_scene(folder, n_boxes)
        window_area = (512 * 0.5) ** 2  # 512 px windows of the 0.5 m scene, m2
        for model in models:
            if deadline.passed(model):
                continue
            flops = encoder_flops(model)
            print(f"{model}: encoder {flops / 1e12:.3f} TFLOP per 1024 px crop", flush=True)
            checkpoint = write_random_official(folder, model)
            rows: list[PathResult] = []
            reference_sized = (
                ("reference loop", partial(ReferenceLoopEngine, checkpoint, model, device)),
                (
                    "ours fp32",
                    partial(
                        ours_engine,
                        checkpoint,
                        device,
                        args.mode,
                        precision="fp32",
                        attention="reference",
                        batch_size=1,
                        prefetch=0,
                        compile=False,
                        device_resample=False,
                    ),
                ),
            )
            for label, make in reference_sized:
                engine = make()
                rows.append(
                    run_path(
                        label,
                        engine,
                        prompts,
                        n_reference,
                        n_reference,
                        scene,
                        device,
                        warmup,
                        "fp32, batch 1",
                    )
                )
                free(engine)

            fast_rows = []
            lever_rows = []
            if model in levers:
                for label, options in LEVERS:
                    if deadline.passed(label):
                        break
                    engine = None
                    try:
                        engine = ours_engine(checkpoint, device, args.mode, batch_size=batch_size, **options)
                        lever_rows.append(run_engine_only(f"engine only, {label}", engine, n_boxes, device))
                        if label == LEVERS[0][0] and not deadline.passed("landed fast path, end to end"):
                            notes = f"{label}, batch {engine.max_batch}"
                            warm = min(int(engine.max_batch), n_boxes)
                            fast_rows.append(
                                run_path(
                                    f"{label}, end to end",
                                    engine,
                                    prompts,
                                    n_boxes,
                                    n_reference,
                                    scene,
                                    device,
                                    warm,
                                    notes,
                                )
                            )
                    except Exception as exc:  # noqa: BLE001 - report the failed row, keep the others
                        print(f"  {label} failed: {type(exc).__name__}: {exc}", flush=True)
                    free(engine)

            if not deadline.passed("ours fast"):
                engine = None
                try:
                    engine = ours_engine(checkpoint, device, args.mode, batch_size=batch_size, prefetch=2)
                    describe = (
                        f"{engine.precision}, {engine.attention}, batch {engine.max_batch}, prefetch 2"
                        + (", compiled" if engine.compiled else "")
                        + (", device resampling" if engine.takes_windows else "")
                    )
                    warm = min(int(engine.max_batch), n_boxes)
                    start = time.perf_counter()
                    fast_rows.append(
                        run_path(
                            "ours fast", engine, prompts, n_boxes, n_reference, scene, device, warm, describe
                        )
                    )
                    print(f"  (ours fast: warm-up and run took {time.perf_counter() - start:.0f} s)")
                    fast_rows.append(run_engine_only("ours fast, engine only", engine, n_boxes, device))
                    if args.profile:
                        print(profile_engine(engine, device), flush=True)
                except Exception as exc:  # noqa: BLE001 - report the failed row, keep the others
                    print(f"  ours fast failed: {type(exc).__name__}: {exc}", flush=True)
                free(engine)

            print()
            print_table(model, rows + fast_rows + lever_rows, flops, peak_tflops, device)
            fp32_row = rows[1]
            print(
                f"\nmasks of the fp32 path hold {mask_parts(fp32_row.logits):.1f} parts on average (random "
                "weights give speckled masks)"
            )
            for row in fast_rows:
                if not row.geometries:
                    continue
                iou, pixels = agreement(row, fp32_row, window_area)
                shared = min(len(row.geometries), len(fp32_row.geometries))
                print(
                    f"{model} {row.label} vs ours fp32 (same weights, mode {args.mode}, first {shared} "
                    f"boxes): mean polygon IoU {iou:.4f}, pixel agreement over the windows {pixels:.4%}"
                )
            print(flush=True)
            checkpoint.unlink()
    print(f"load average at end (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
