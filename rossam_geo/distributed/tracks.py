"""The tracks job on a Dask cluster: one task per chunk of frames, every result written by the client.

Results come back to the client, which alone writes the GeoPackage through the resumable sink (keyed by frame
and track), one transaction per chunk as its future completes; since the output records what is done, an
interrupted run resumes with ``mode="resume"``. Tasks are retried (``retries=2``); tasks of a lost worker
are rescheduled by Dask, and results already written stay written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from rossam_geo.distributed.cluster import gpu_resources, worker_cache, worker_engine

if TYPE_CHECKING:
    from distributed import Client

    from rossam_geo.video.annotations import TrackBox
    from rossam_geo.video.tracks import Chunk, TrackJob, TracksResult

__all__ = ["run_tracks_distributed"]


def _tracks_chunk_task(job: TrackJob, chunk: Chunk) -> list[dict[str, Any]]:
    from rossam_geo.video.tracks import segment_chunk

    cache = worker_cache()
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

    from rossam_geo.video.tracks import TracksResult, open_tracks_output, plan_chunks, records_to_frame

    sink, done = open_tracks_output(out_path, layer, mode, annotations)
    result = TracksResult(already_done=len({(b.frame, b.track_id) for b in annotations} & done))
    chunks = plan_chunks(annotations, done, frames_per_chunk=frames_per_chunk, temporal=job.temporal)
    if not chunks:
        sink.finish(records_to_frame([], job.output_crs()))
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
        sink.write(gdf)
        result.add(gdf)
        if on_chunk is not None:
            on_chunk(chunk, result)
    return result
