"""Scale-out on Dask distributed: the segment job split by scene, the tracks job split by frame chunk.

Every worker keeps one engine (model) loaded between tasks (an attribute of its ``distributed.Worker``).
Results come back to the client, which alone writes the GeoPackage, appending each result as its future
completes; since every append is atomic and the output records what is done, an interrupted run resumes with
``mode="resume"``. Tasks are retried (``retries=2``); tasks of a lost worker are rescheduled by Dask, and
results already written stay written.

Scheduler addresses: ``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes bound to
127.0.0.1; anything else is the address of a running scheduler (``tcp://127.0.0.1:8786``). GPU workers are
declared with ``dask worker --resources GPU=1``; with ``device="cuda"`` every task asks for ``{"GPU": 1}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rossam_geo.errors import InputError

if TYPE_CHECKING:
    import geopandas
    from distributed import Client

    from rossam_geo.engines.base import Engine
    from rossam_geo.video.annotations import TrackBox
    from rossam_geo.video.tracks import Chunk, TrackJob, TracksResult

__all__ = [
    "ScaleOutResult",
    "connect",
    "expand_scenes",
    "gpu_resources",
    "parse_scheduler",
    "run_segment_distributed",
    "run_tracks_distributed",
    "warm_workers",
    "worker_engine",
    "worker_segmenter",
]

#: Attribute of a dask Worker holding its loaded engines, keyed by construction options.
_CACHE_ATTR = "rossam_geo_engines"


def parse_scheduler(address: str) -> tuple[Literal["local", "remote"], int | str]:
    """Split a ``--scheduler`` value into ("local", worker count) or ("remote", address).

    Raises:
        InputError: ``local:`` without a positive worker count.
    """
    if address.startswith("local"):
        _, _, count = address.partition(":")
        try:
            n_workers = int(count)
        except ValueError:
            n_workers = 0
        if n_workers < 1:
            raise InputError(
                f"scheduler {address!r} needs a worker count, e.g. local:2, or a scheduler address such as "
                "tcp://127.0.0.1:8786"
            )
        return "local", n_workers
    return "remote", address


@contextmanager
def connect(scheduler: str, *, worker_resources: dict[str, float] | None = None) -> Iterator[Client]:
    """A dask ``Client`` for ``scheduler`` (see :func:`parse_scheduler`), closed on exit.

    Args:
        scheduler: ``local:N`` or a scheduler address.
        worker_resources: resources each local worker declares (``{"GPU": 1}`` for CUDA jobs, whose tasks
            ask for one GPU; the local workers then share the visible GPUs); ignored for remote schedulers,
            whose workers declare their own.
    """
    from distributed import Client, LocalCluster

    kind, value = parse_scheduler(scheduler)
    if kind == "local":
        with (
            LocalCluster(
                n_workers=int(value),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                resources=worker_resources,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        with Client(str(value)) as client:
            yield client


def gpu_resources(device: str) -> dict[str, float] | None:
    """Task resources for a device: ``{"GPU": 1}`` for CUDA, None otherwise."""
    return {"GPU": 1} if device.startswith("cuda") else None


def _worker_cache(worker: Any = None) -> dict[Any, Any]:
    """The engine cache of ``worker`` (default: the worker running this task; a plain dict outside dask)."""
    from distributed import get_worker

    if worker is None:
        try:
            worker = get_worker()
        except ValueError:
            return _LOCAL_CACHE
    cache = getattr(worker, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(worker, _CACHE_ATTR, cache)
    return cache


_LOCAL_CACHE: dict[Any, Any] = {}


def worker_engine(job: TrackJob) -> Engine:
    """The engine of ``job``, built once per worker and reused by later tasks."""
    cache = _worker_cache()
    key = ("engine", *job.engine_key())
    if key not in cache:
        cache[key] = job.build_engine()
    engine: Engine = cache[key]
    return engine


def worker_segmenter(
    engine: str,
    weights: str | None,
    device: str,
    batch_size: int | None,
    engine_options: Mapping[str, Any] | None = None,
    *,
    worker: Any = None,
) -> Any:
    """A :class:`rossam_geo.api.Segmenter`, built once per worker and reused by later tasks.

    ``engine_options`` go to the engine's factory (``precision``, ``attention``, ``compile``, ``tta`` of the
    SAM-family engines); segmenters with different options are cached apart.
    """
    from rossam_geo.api import Segmenter

    extra = dict(engine_options or {})
    cache = _worker_cache(worker)
    key = ("segmenter", engine, weights, device, batch_size, tuple(sorted(extra.items())))
    if key not in cache:
        if batch_size is not None:
            extra["batch_size"] = batch_size
        cache[key] = Segmenter(engine=engine, weights=weights, device=device, **extra)
    return cache[key]


def _warm(
    engine: str,
    weights: str | None,
    device: str,
    batch_size: int | None,
    engine_options: Mapping[str, Any] | None,
    dask_worker: Any = None,
) -> None:
    worker_segmenter(engine, weights, device, batch_size, engine_options, worker=dask_worker)


def warm_workers(
    client: Client,
    engine: str,
    weights: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> None:
    """Load the engine on every connected worker now (before timing, or to fail early on bad weights)."""
    client.run(_warm, engine, weights, device, batch_size, dict(engine_options or {}))


# ----------------------------------------------------------------------------------------------------- tracks


def _tracks_chunk_task(job: TrackJob, chunk: Chunk) -> list[dict[str, Any]]:
    from rossam_geo.video.tracks import segment_chunk

    cache = _worker_cache()
    key = ("frames", job.frames_path, job.number_from, job.bands)
    if key not in cache:
        cache[key] = job.open_frames()
    return segment_chunk(job, chunk, worker_engine(job), cache[key])


def run_tracks_distributed(
    job: TrackJob,
    annotations: Sequence[TrackBox],
    out_path: str,
    client: Client,
    *,
    layer: str = "tracks",
    mode: Literal["create", "overwrite", "resume"] = "create",
    frames_per_chunk: int = 16,
    retries: int = 2,
    resources: dict[str, float] | None = None,
    on_chunk: Callable[[Chunk, TracksResult], None] | None = None,
) -> TracksResult:
    """The tracks job of :func:`rossam_geo.video.tracks.run_tracks`, one task per chunk on a dask cluster.

    Args:
        job: the job; the frames path must be readable from every worker.
        annotations: the boxes.
        out_path: the GeoPackage, written by this process only.
        client: a connected dask client.
        layer, mode, frames_per_chunk: as for ``run_tracks``.
        retries: times a failed task is retried.
        resources: resources each task needs (default: :func:`gpu_resources` of ``job.device``).
        on_chunk: called after each chunk is written.

    Returns:
        A ``TracksResult``; ``failed_chunks`` counts chunks that failed after their retries (not written, so
        a resumed run retries them).
    """
    from distributed import as_completed

    from rossam_geo.io import write_features
    from rossam_geo.video.tracks import (
        TracksResult,
        plan_chunks,
        prepare_output,
        records_to_frame,
    )

    done, write_mode = prepare_output(out_path, layer, mode)
    result = TracksResult(already_done=len({(b.frame, b.track_id) for b in annotations} & done))
    chunks = plan_chunks(annotations, done, frames_per_chunk=frames_per_chunk, temporal=job.temporal)
    if not chunks:
        return result
    run_id = uuid.uuid4().hex[:8]
    task_resources = resources if resources is not None else gpu_resources(job.device)
    futures = {
        client.submit(
            _tracks_chunk_task,
            job,
            chunk,
            key=f"rossam-tracks-{run_id}-{chunk.index}",
            retries=retries,
            resources=task_resources,
            pure=False,
        ): chunk
        for chunk in chunks
    }
    crs = job.output_crs()
    for future in as_completed(futures):
        chunk = futures.pop(future)  # dropping the last reference frees the result on its worker
        try:
            records = future.result()
        except Exception as exc:  # noqa: BLE001 - a chunk failing after its retries must not stop the others
            result.failed_chunks.append((chunk.index, f"{type(exc).__name__}: {exc}"))
            continue
        gdf = records_to_frame(records, crs)
        write_features(gdf, out_path, layer=layer, mode=write_mode)
        write_mode = "append"
        result.add(gdf)
        if on_chunk is not None:
            on_chunk(chunk, result)
    return result


# ---------------------------------------------------------------------------------------------------- segment


@dataclass
class ScaleOutResult:
    """What a distributed segment run did.

    Attributes:
        scenes_done: scenes written by this run.
        scenes_skipped: scenes already in the output (resume).
        features: features written by this run.
        failed: (scene, error) of scenes that failed after their retries (not written).
        status_counts: written features per status.
    """

    scenes_done: list[str] = field(default_factory=list)
    scenes_skipped: list[str] = field(default_factory=list)
    features: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    status_counts: dict[str, int] = field(default_factory=dict)


#: File endings taken as scenes when a folder is given.
SCENE_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".png", ".jpg", ".jpeg")


def expand_scenes(specs: Sequence[str]) -> list[str]:
    """Scene paths from command-line values: files, folders (their rasters), glob patterns, ``@list.txt``.

    Args:
        specs: each a raster path, a folder (every file ending in :data:`SCENE_SUFFIXES`, natural order), a
            glob pattern (``scenes/*.tif``), or ``@file`` naming a text file with one path per line.

    Returns:
        Paths in the order given, without repeats.

    Raises:
        InputError: a value matches no file.
    """
    import glob

    from rossam_geo.video.annotations import natural_key

    out: list[str] = []
    for spec in specs:
        if spec.startswith("@"):
            listing = Path(spec[1:])
            if not listing.is_file():
                raise InputError(f"scene list {str(listing)!r} does not exist; give one raster path per line")
            found = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        elif Path(spec).is_dir():
            found = sorted(
                (str(p) for p in Path(spec).iterdir() if p.suffix.lower() in SCENE_SUFFIXES),
                key=lambda p: natural_key(Path(p).name),
            )
        elif Path(spec).exists():
            found = [spec]
        else:
            found = sorted(glob.glob(spec), key=lambda p: natural_key(Path(p).name))
        if not found:
            raise InputError(
                f"{spec!r} matches no scene; give raster files, a folder, a glob pattern or @list.txt"
            )
        out.extend(p for p in found if p not in out)
    return out


def _segment_scene_task(
    scene: str,
    prompts: Any,
    engine: str,
    weights: str | None,
    device: str,
    batch_size: int | None,
    engine_options: dict[str, Any],
    options: dict[str, Any],
) -> geopandas.GeoDataFrame:
    segmenter = worker_segmenter(engine, weights, device, batch_size, engine_options)
    return segmenter.segment(scene, prompts, batch_size=batch_size, **options)


def _done_sources(out_path: str, layer: str) -> set[str]:
    from rossam_geo.io import read_layer_table

    table = read_layer_table(out_path, layer, ["source"])
    return set() if table is None else {str(s) for s in table["source"]}


def run_segment_distributed(
    scenes: Sequence[str | Path],
    prompts: str | Path | Sequence[str | Path],
    out_path: str | Path,
    client: Client,
    *,
    out_layer: str = "objects",
    mode: Literal["create", "overwrite", "append", "resume"] = "create",
    engine: str = "rossam",
    weights: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    engine_options: Mapping[str, Any] | None = None,
    retries: int = 2,
    resources: dict[str, float] | None = None,
    on_scene: Callable[[str, ScaleOutResult], None] | None = None,
    **segment_options: Any,
) -> ScaleOutResult:
    """Segment many scenes on a dask cluster, one task per scene, into one GeoPackage layer.

    Args:
        scenes: raster paths, readable from every worker; their file names must be unique (they are the
            ``source`` field that a resumed run uses to skip finished scenes).
        prompts: one prompt file used for every scene (boxes outside a scene come back as "skipped"
            features; filter on ``status``), or one prompt file per scene, in the same order.
        out_path: the GeoPackage, written by this process only, one atomic append per scene.
        client: a connected dask client.
        out_layer: output layer (``layer`` in ``segment_options`` is the prompt file's layer).
        mode: ``"create"``, ``"overwrite"``, ``"append"`` (add every scene to an existing output) or
            ``"resume"`` (skip scenes whose name is already in the layer's ``source`` field).
        engine, weights, device, batch_size: engine options (the engine is loaded once per worker).
        engine_options: further engine factory options (``precision``, ``attention``, ``compile``, ``tta``).
        retries: times a failed task is retried.
        resources: resources each task needs (default: :func:`gpu_resources` of ``device``).
        on_scene: called with the scene name after each scene is written.
        **segment_options: keyword options of :meth:`rossam_geo.api.Segmenter.segment` (``crop_size``,
            ``upsample``, ``output_crs``, ``boxes_crs``, ``pixel``, ``class_field``...). Scenes in different
            CRSs need ``output_crs``.

    Returns:
        A :class:`ScaleOutResult`.

    Raises:
        InputError: duplicate scene names or a prompt list of the wrong length.
        OutputExistsError: ``mode="create"`` and the output exists.
    """
    from distributed import as_completed

    from rossam_geo.errors import OutputExistsError
    from rossam_geo.io import write_features

    out_path = str(out_path)
    scene_paths = [str(s) for s in scenes]
    names = [Path(s).name for s in scene_paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(
            f"scene file names must be unique (they identify finished scenes), but {duplicates[0]!r} appears "
            "more than once; rename or link the files"
        )
    if isinstance(prompts, (str, Path)):
        prompt_list: list[Any] = [str(prompts)] * len(scene_paths)
    else:
        prompt_list = [str(p) for p in prompts]
        if len(prompt_list) != len(scene_paths):
            raise InputError(
                f"got {len(prompt_list)} prompt files for {len(scene_paths)} scenes; give one file for all "
                "scenes or one per scene"
            )
    exists = Path(out_path).exists()
    if mode == "create" and exists:
        raise OutputExistsError(f"output {out_path!r} exists; use --overwrite, --append or --resume")
    done = _done_sources(out_path, out_layer) if mode == "resume" else set()
    write_mode: Literal["create", "overwrite", "append"] = (
        "overwrite" if mode == "overwrite" else "append" if mode in ("append", "resume") else "create"
    )
    result = ScaleOutResult()
    task_resources = resources if resources is not None else gpu_resources(device)
    run_id = uuid.uuid4().hex[:8]
    futures = {}
    for index, (scene, scene_prompts, name) in enumerate(zip(scene_paths, prompt_list, names, strict=True)):
        if name in done:
            result.scenes_skipped.append(name)
            continue
        future = client.submit(
            _segment_scene_task,
            scene,
            scene_prompts,
            engine,
            weights,
            device,
            batch_size,
            dict(engine_options or {}),
            segment_options,
            key=f"rossam-segment-{run_id}-{index}",
            retries=retries,
            resources=task_resources,
            pure=False,
        )
        futures[future] = name
    for future in as_completed(futures):
        name = futures.pop(future)  # dropping the last reference frees the result on its worker
        try:
            gdf = future.result()
        except Exception as exc:  # noqa: BLE001 - one scene failing must not stop the others
            result.failed.append((name, f"{type(exc).__name__}: {exc}"))
            continue
        write_features(gdf, out_path, layer=out_layer, mode=write_mode)
        write_mode = "append"
        result.scenes_done.append(name)
        result.features += len(gdf)
        for status, n in gdf["status"].value_counts().items():
            result.status_counts[str(status)] = result.status_counts.get(str(status), 0) + int(n)
        if on_scene is not None:
            on_scene(name, result)
    return result


def segment_command(
    scenes: Sequence[str],
    prompts: str,
    output: str,
    *,
    scheduler: str,
    mode: Literal["create", "overwrite", "append", "resume"],
    out_layer: str,
    console: Any,
    engine: str,
    weights: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    engine_options: Mapping[str, Any] | None = None,
    **segment_options: Any,
) -> ScaleOutResult:
    """``rossam-geo segment --scheduler``: many scenes on a dask cluster, with a progress bar and a summary.

    Args:
        scenes: command-line scene values (files, folders, glob patterns, ``@list.txt``; see
            :func:`expand_scenes`).
        prompts: one prompt file for all scenes.
        output, out_layer, mode: the GeoPackage, its layer and the write mode.
        scheduler: ``local:N`` or a scheduler address.
        console: a ``rich.console.Console`` for progress and the summary.
        engine, weights, device, batch_size: engine options.
        engine_options: further engine factory options (``precision``, ``attention``, ``compile``, ``tta``).
        **segment_options: keyword options of :meth:`rossam_geo.api.Segmenter.segment`.

    Returns:
        The :class:`ScaleOutResult`; scenes that failed are listed on the console.
    """
    import time

    from rich.progress import Progress

    scene_paths = expand_scenes(scenes)
    segment_options.pop("progress", None)  # the progress bar here counts scenes; workers draw none
    started = time.perf_counter()
    with (
        connect(scheduler, worker_resources=gpu_resources(device)) as client,
        Progress(console=console, transient=True) as progress,
    ):
        task = progress.add_task("scenes", total=len(scene_paths))
        result = run_segment_distributed(
            scene_paths,
            prompts,
            output,
            client,
            out_layer=out_layer,
            mode=mode,
            engine=engine,
            weights=weights,
            device=device,
            batch_size=batch_size,
            engine_options=engine_options,
            on_scene=lambda _name, _result: progress.advance(task),
            **segment_options,
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.status_counts.items())) or "none"
    console.print(
        f"{len(result.scenes_done)} of {len(scene_paths)} scenes written to {output} ({result.features} "
        f"features: {counts}); {len(result.scenes_skipped)} already there; "
        f"{time.perf_counter() - started:.1f} s"
    )
    for name, error in result.failed:
        console.print(f"[red]scene {name} failed[/red]: {error}; run again with --resume to retry it")
    return result
