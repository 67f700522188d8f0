"""The output of the tracks job: its columns, the features of a chunk's records, what a run did, and the
resumable layer it writes (keyed by frame and track, with the fingerprint of the annotations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pyproj

from rossam_geo.errors import InputError
from rossam_geo.video.annotations import TrackBox
from rossam_geo.video.frames import FrameSource

if TYPE_CHECKING:
    import geopandas

    from rossam_geo.segmentation.sink import LayerSink

__all__ = [
    "TRACK_COLUMNS",
    "TracksResult",
    "annotations_fingerprint",
    "open_tracks_output",
    "output_crs_of",
    "records_to_frame",
]

#: Output columns in order (``timestamp`` only when the frame rate and start time are known).
TRACK_COLUMNS = (
    "frame",
    "track_id",
    "timestamp",
    "class",
    "score",
    "area",
    "area_unit",
    "status",
    "reason",
    "box_xmin",
    "box_ymin",
    "box_xmax",
    "box_ymax",
    "box_cx",
    "box_cy",
    "source",
    "engine",
    "model",
    "created",
)


def records_to_frame(records: Sequence[dict[str, Any]], crs: pyproj.CRS | None) -> geopandas.GeoDataFrame:
    """Records of :func:`segment_chunk` as a GeoDataFrame with stable column types."""
    import geopandas as gpd
    import pandas as pd

    columns = [c for c in TRACK_COLUMNS if c != "timestamp" or any(r["timestamp"] for r in records)]
    frame = pd.DataFrame([{c: r[c] for c in columns} for r in records], columns=columns)
    for name in ("frame", "track_id"):
        frame[name] = frame[name].astype("int64")
    for name in ("score", "area", "box_xmin", "box_ymin", "box_xmax", "box_ymax", "box_cx", "box_cy"):
        frame[name] = frame[name].astype("float64")
    for name in ("class", "area_unit", "status", "reason", "source", "engine", "model", "created"):
        frame[name] = frame[name].astype("object")
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return gpd.GeoDataFrame(frame, geometry=[r["geometry"] for r in records], crs=crs)


@dataclass
class TracksResult:
    """What a run did.

    Attributes:
        written: features written by this run.
        already_done: (frame, track) pairs found in the output at start and skipped.
        chunks: chunks processed by this run.
        status_counts: written features per status.
        failed_chunks: (chunk index, error) of chunks that could not be segmented (nothing written for them,
            so a resumed run retries them).
    """

    written: int = 0
    already_done: int = 0
    chunks: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    failed_chunks: list[tuple[int, str]] = field(default_factory=list)

    def add(self, gdf: geopandas.GeoDataFrame) -> None:
        """Count a written chunk."""
        self.written += len(gdf)
        self.chunks += 1
        for status, n in gdf["status"].value_counts().items():
            self.status_counts[str(status)] = self.status_counts.get(str(status), 0) + int(n)


def output_crs_of(source: FrameSource) -> pyproj.CRS | None:
    """The CRS of the first frame of ``source`` (the output layer's CRS by default); None for video."""
    if source.kind == "video":
        return None
    numbers = source.frame_numbers()
    if not numbers:
        raise InputError(f"no frames in {source.path!r}")
    return source.info(numbers[0]).crs


def open_tracks_output(
    out_path: str, layer: str, mode: Literal["create", "overwrite", "resume"], annotations: Sequence[TrackBox]
) -> tuple[LayerSink, set[tuple[int, int]]]:
    """Check the output before any work, and read what is done.

    The fingerprint of the annotations (frame, track and box of each) is kept with the layer; resuming with
    other annotations is refused.

    Returns:
        (the sink, done (frame, track_id) pairs).

    Raises:
        OutputExistsError: ``mode="create"`` and the output exists.
        InputError: resuming a layer that is not a tracks output or was made from other annotations.
    """
    from pathlib import Path

    from rossam_geo.segmentation.sink import LayerSink, OutputTarget
    from rossam_geo.video.outputs import read_done_pairs

    target = OutputTarget(Path(out_path), layer, mode)
    target.check(
        hint="use --resume to continue that run or --overwrite to start again", fields=("frame", "track_id")
    )
    sink = LayerSink(target, every_seconds=0.0, every_features=1)
    done = read_done_pairs(out_path, layer) if sink.resuming else set()
    fingerprint = annotations_fingerprint(annotations)
    sink.check_prompts("tracks", fingerprint, "annotations")
    sink.remember({"tracks": fingerprint})
    return sink, done


def annotations_fingerprint(annotations: Sequence[TrackBox]) -> str:
    """SHA-256 of the (frame, track_id, box) of every annotation, in (frame, track) order."""
    import hashlib
    import json

    items = sorted((b.frame, b.track_id, [float(v) for v in b.box_px_xyxy]) for b in annotations)
    return "sha256:" + hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()
