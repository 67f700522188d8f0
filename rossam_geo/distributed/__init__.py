"""Scale-out on Dask distributed: the segment job split by scene, the tracks job split by frame chunk.

Every worker keeps one engine (model) loaded between tasks (:mod:`.cluster`). Results come back to the
client, which alone writes the GeoPackage through the resumable sink, one transaction per result as its
future completes; an interrupted run resumes with ``mode="resume"`` (:mod:`.segment`, :mod:`.tracks`).
"""

from __future__ import annotations

from rossam_geo.distributed.cluster import (
    connect,
    gpu_resources,
    parse_scheduler,
    warm_workers,
    worker_cache,
    worker_engine,
    worker_segmenter,
)
from rossam_geo.distributed.segment import ScaleOutResult, run_segment_distributed, segment_command
from rossam_geo.distributed.tracks import run_tracks_distributed
from rossam_geo.io.files import expand_scenes

__all__ = [
    "ScaleOutResult",
    "connect",
    "expand_scenes",
    "gpu_resources",
    "parse_scheduler",
    "run_segment_distributed",
    "run_tracks_distributed",
    "segment_command",
    "warm_workers",
    "worker_cache",
    "worker_engine",
    "worker_segmenter",
]
