"""What a tracks job is made of: its settings (:class:`TrackJob`) and its chunks of frames (:class:`Chunk`).

Both are plain values, cheap to send to other processes. A chunk holds whole frames; with temporal help it
also names, as context, the previous box of each of its tracks whose previous frame lies outside the chunk,
so that every chunk can be segmented alone, in any order and any process, with the same result.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pyproj

from rossam_geo.engines import weight_free_engines
from rossam_geo.errors import InputError
from rossam_geo.segmentation.options import SegmentOptions
from rossam_geo.video.annotations import TrackBox
from rossam_geo.video.frames import FrameSource, open_frames

if TYPE_CHECKING:
    from rossam_geo.engines.base import Engine

__all__ = ["WEIGHT_FREE_ENGINES", "Chunk", "TrackJob", "plan_chunks"]


#: Engines without a model; temporal refinement leaves their masks unchanged.
WEIGHT_FREE_ENGINES = weight_free_engines()


@dataclass(frozen=True)
class TrackJob:
    """Everything a process needs to segment chunks of a sequence (plain values, cheap to send to workers).

    Attributes:
        frames_path: folder of frame images or a video file (readable from every worker).
        number_from: image folders: ``"position"`` or ``"name"`` numbering
            (see :mod:`rossam_geo.video.frames`).
        engine, weights, device: engine construction options.
        options: how each frame is segmented (``crop_size``, ``upsample``, ``batch_size`` (also the engine's),
            ``bands`` (1-based bands used as RGB), ``all_parts``, ``simplify_px``, ``min_region_px``,
            ``min_score``); ``crop``, ``output_crs`` and ``polygon_workers`` do not apply to tracks.
        temporal: refine masks with the previous frame's mask of the same track.
        output_crs_wkt: CRS of the output layer as WKT, None for pixel coordinates.
        fps: frames per second, with ``start_time`` gives each frame's timestamp.
        start_time: ISO 8601 time of frame 1 (UTC when it has no offset).
    """

    frames_path: str
    number_from: Literal["position", "name"] = "position"
    engine: str = "rossam"
    weights: str | None = None
    device: str = "auto"
    options: SegmentOptions = field(default_factory=SegmentOptions)
    temporal: bool = False
    output_crs_wkt: str | None = None
    fps: float | None = None
    start_time: str | None = None

    def __post_init__(self) -> None:
        if (self.fps is None) != (self.start_time is None):
            raise InputError(
                f"timestamps need both --fps and --start-time, got fps={self.fps} and "
                f"start_time={self.start_time!r}; give both or neither"
            )
        if self.fps is not None and not self.fps > 0:
            raise InputError(f"fps must be > 0, got {self.fps}")
        if self.start_time is not None:
            try:
                dt.datetime.fromisoformat(self.start_time)
            except ValueError:
                raise InputError(
                    f"start time {self.start_time!r} is not ISO 8601; write it like 2024-05-01T10:00:00Z"
                ) from None

    def output_crs(self) -> pyproj.CRS | None:
        """The output layer's CRS (None: pixel coordinates)."""
        return pyproj.CRS.from_wkt(self.output_crs_wkt) if self.output_crs_wkt else None

    @property
    def bands(self) -> tuple[int, ...] | None:
        """1-based bands used as RGB (None: the default)."""
        return self.options.bands

    def engine_key(self) -> tuple[str, str | None, str, int | None]:
        """What identifies a loaded engine (for per-process caches)."""
        return (self.engine, self.weights, self.device, self.options.batch_size)

    def open_frames(self) -> FrameSource:
        """Open the job's frames."""
        return open_frames(self.frames_path, number_from=self.number_from, bands=self.bands)

    def build_engine(self) -> Engine:
        """Build the job's engine (loads the model for SAM-family engines)."""
        from rossam_geo.engines import get_engine

        options: dict[str, Any] = {"device": self.device, "batch_size": self.options.batch_size}
        if self.weights is not None:
            options["weights"] = self.weights
        return get_engine(self.engine, **options)

    def timestamp(self, frame: int) -> dt.datetime | None:
        """UTC time of ``frame`` (annotation numbering; frame 1 = ``start_time``), None if unknown."""
        if self.fps is None or self.start_time is None:
            return None
        start = dt.datetime.fromisoformat(self.start_time)
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        return (start + dt.timedelta(seconds=(frame - 1) / self.fps)).astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Chunk:
    """Boxes of a run of whole frames, plus the boxes that give its tracks their previous masks.

    Attributes:
        index: position of the chunk in the job.
        boxes: boxes to segment and write, sorted by (frame, track_id).
        context: for ``temporal``: the previous box of each track whose previous frame is not in the chunk.
    """

    index: int
    boxes: tuple[TrackBox, ...]
    context: tuple[TrackBox, ...] = field(default=())

    @property
    def frames(self) -> list[int]:
        """Frame numbers written by this chunk."""
        return sorted({b.frame for b in self.boxes})


def plan_chunks(
    annotations: Sequence[TrackBox],
    done: set[tuple[int, int]],
    *,
    frames_per_chunk: int = 16,
    temporal: bool = False,
) -> list[Chunk]:
    """Split the pairs not yet done into chunks of at most ``frames_per_chunk`` frames.

    Args:
        annotations: every box of the job (also the done ones: they give temporal context).
        done: (frame, track_id) pairs already in the output.
        frames_per_chunk: frames per chunk (>= 1).
        temporal: add each track's previous box before the chunk as context.

    Returns:
        Chunks in frame order; the same annotations and ``done`` always give the same chunks.
    """
    if frames_per_chunk < 1:
        raise InputError(f"frames per chunk must be at least 1, got {frames_per_chunk}")
    pending = [b for b in annotations if (b.frame, b.track_id) not in done]
    by_frame: dict[int, list[TrackBox]] = defaultdict(list)
    for box in pending:
        by_frame[box.frame].append(box)
    frames = sorted(by_frame)
    previous_of: dict[tuple[int, int], TrackBox] = {}
    if temporal:
        last: dict[int, TrackBox] = {}
        for box in sorted(annotations, key=lambda b: (b.frame, b.track_id)):
            if box.track_id in last:
                previous_of[(box.frame, box.track_id)] = last[box.track_id]
            last[box.track_id] = box
    chunks = []
    for index, start in enumerate(range(0, len(frames), frames_per_chunk)):
        chunk_frames = frames[start : start + frames_per_chunk]
        boxes = tuple(
            sorted((b for f in chunk_frames for b in by_frame[f]), key=lambda b: (b.frame, b.track_id))
        )
        in_chunk = {(b.frame, b.track_id) for b in boxes}
        context = {}
        for box in boxes:
            prev = previous_of.get((box.frame, box.track_id))
            if prev is not None and (prev.frame, prev.track_id) not in in_chunk:
                context[(prev.frame, prev.track_id)] = prev
        chunks.append(
            Chunk(index, boxes, tuple(sorted(context.values(), key=lambda b: (b.frame, b.track_id))))
        )
    return chunks
