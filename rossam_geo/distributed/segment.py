"""The segment job on a Dask cluster: one task per scene, every result written by the client to one layer.

Each task runs the one scene run (:func:`rossam_geo.segmentation.segment_scene`) with the run's
:class:`~rossam_geo.segmentation.SegmentOptions` on a worker that keeps its engine loaded. The client alone
writes the GeoPackage through the resumable sink (keyed by scene: one transaction per scene, appended as
its future completes), so an interrupted run resumes with ``mode="resume"``: scenes whose file name is
already in the layer's ``source`` field are skipped, and resuming with other prompts is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rossam_geo.distributed.cluster import connect, gpu_resources, worker_segmenter
from rossam_geo.errors import InputError
from rossam_geo.segmentation.features import OUTPUT_COLUMNS
from rossam_geo.segmentation.options import PromptOptions, SegmentOptions

if TYPE_CHECKING:
    import geopandas
    from distributed import Client

__all__ = ["ScaleOutResult", "run_segment_distributed", "segment_command"]


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


def _segment_scene_task(
    scene: str,
    prompts: Any,
    engine: str,
    weights: str | None,
    device: str,
    engine_options: dict[str, Any],
    options: SegmentOptions,
    prompt_options: PromptOptions,
) -> tuple[geopandas.GeoDataFrame, str]:
    """(the scene's features, the fingerprint of its prompts), on a worker."""
    from rossam_geo import io
    from rossam_geo.segmentation.prompts import load_prompts, prompt_fingerprint
    from rossam_geo.segmentation.run import segment_scene

    segmenter = worker_segmenter(engine, weights, device, options.batch_size, engine_options)
    with io.open_raster(scene) as reader:
        scene_prompts = load_prompts(prompts, reader.info.name, prompt_options)
        result = segment_scene(reader, scene_prompts, segmenter.engine, options)
    return result.features, prompt_fingerprint(scene_prompts)


def _scene_fingerprint(scene: str, prompts: Any, prompt_options: PromptOptions) -> str:
    from rossam_geo.segmentation.prompts import load_prompts, prompt_fingerprint

    return prompt_fingerprint(load_prompts(prompts, Path(scene).name, prompt_options))


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
    engine_options: Mapping[str, Any] | None = None,
    options: SegmentOptions | None = None,
    prompt_options: PromptOptions | None = None,
    retries: int = 2,
    resources: dict[str, float] | None = None,
    on_scene: Callable[[str, ScaleOutResult], None] | None = None,
    **keyword_options: Any,
) -> ScaleOutResult:
    """Segment many scenes on a dask cluster, one task per scene, into one GeoPackage layer.

    Args:
        scenes: raster paths, readable from every worker; their file names must be unique (they are the
            ``source`` field that a resumed run uses to skip finished scenes).
        prompts: one prompt file used for every scene (boxes outside a scene come back as "skipped"
            features; filter on ``status``), or one prompt file per scene, in the same order.
        out_path: the GeoPackage, written by this process only, one transaction per scene.
        client: a connected dask client.
        out_layer: output layer.
        mode: ``"create"``, ``"overwrite"`` (the layer), ``"append"`` (add every scene to an existing layer)
            or ``"resume"`` (skip scenes whose name is already in the layer's ``source`` field).
        engine, weights, device: the engine (loaded once per worker).
        engine_options: further engine factory options (``precision``, ``attention``, ``compile``, ``tta``).
        options, prompt_options: how each scene is segmented and its prompts read (scenes in different
            CRSs need ``output_crs``).
        retries: times a failed task is retried.
        resources: resources each task needs (default: :func:`gpu_resources` of ``device``).
        on_scene: called with the scene name after each scene is written.
        **keyword_options: segment and prompt options by name instead (``pixel=True``, ``crop_size=256``...).

    Returns:
        A :class:`ScaleOutResult`.

    Raises:
        InputError: duplicate scene names, a prompt list of the wrong length, a bad option, or resuming a
            layer made by another engine or from other prompts.
        OutputExistsError: ``mode="create"`` and the output exists.
    """
    from distributed import as_completed

    from rossam_geo.api import split_options
    from rossam_geo.segmentation.resume import check_resumable
    from rossam_geo.segmentation.sink import LayerSink, OutputTarget

    extra_options, extra_prompt_options = split_options(keyword_options)
    options = options or extra_options
    prompt_options = prompt_options or extra_prompt_options
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
    target = OutputTarget(Path(out_path), out_layer, mode)
    target.check(fields=OUTPUT_COLUMNS)
    sink = LayerSink(target, every_seconds=0.0, every_features=1)
    done: set[str] = set()
    if sink.resuming:
        table = sink.table(["source", "engine", "model"])
        if table is not None:
            # the model is loaded on the workers only, so a resumed run compares engine names
            check_resumable(table, target.path, target.layer, engine)
            done = {str(s) for s in table["source"]}
        for scene, scene_prompts, name in zip(scene_paths, prompt_list, names, strict=True):
            if name in done:
                sink.check_prompts(name, _scene_fingerprint(scene, scene_prompts, prompt_options), "prompts")
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
            dict(engine_options or {}),
            options,
            prompt_options,
            key=f"rossam-segment-{run_id}-{index}",
            retries=retries,
            resources=task_resources,
            pure=False,
        )
        futures[future] = name
    for future in as_completed(futures):
        name = futures.pop(future)  # dropping the last reference frees the result on its worker
        try:
            gdf, fingerprint = future.result()
        except Exception as exc:  # noqa: BLE001 - one scene failing must not stop the others
            result.failed.append((name, f"{type(exc).__name__}: {exc}"))
            continue
        sink.remember({name: fingerprint})
        sink.write(gdf)
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
    engine_options: Mapping[str, Any] | None = None,
    **keyword_options: Any,
) -> ScaleOutResult:
    """``rossam-geo segment --scheduler``: many scenes on a dask cluster, with a progress bar and a summary.

    Args:
        scenes: command-line scene values (files, folders, glob patterns, ``@list.txt``; see
            :func:`rossam_geo.io.expand_scenes`).
        prompts: one prompt file for all scenes.
        output, out_layer, mode: the GeoPackage, its layer and the write mode.
        scheduler: ``local:N`` or a scheduler address.
        console: a ``rich.console.Console`` for progress and the summary.
        engine, weights, device: the engine.
        engine_options: further engine factory options (``precision``, ``attention``, ``compile``, ``tta``).
        **keyword_options: segment and prompt options by name.

    Returns:
        The :class:`ScaleOutResult`; scenes that failed are listed on the console.
    """
    import time

    from rich.progress import Progress

    from rossam_geo.io import expand_scenes

    scene_paths = expand_scenes(scenes)
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
            engine_options=engine_options,
            on_scene=lambda _name, _result: progress.advance(task),
            **keyword_options,
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
