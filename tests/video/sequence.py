"""A seeded generator of tiny georeferenced frame sequences with moving objects of known colours.

Frames are 96 x 72 px uint8 RGB GeoTIFFs in UTM 33N (0.5 m pixels). The background is a seeded gray texture
(channels equal, values 60..140); object k is a solid rectangle in OBJECT_COLOURS[k], colours that appear
nowhere else. Track 1 moves right 4 px per frame, track 2 moves down 3 px per frame. MOT annotations give each
object's exact extent (integer pixel edges), so the ``box`` engine must return exactly that rectangle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.geo.fakes import UTM33_CRS, UTM33_TRANSFORM, make_geotiff

WIDTH, HEIGHT = 96, 72
#: track id -> RGB colour of its object.
OBJECT_COLOURS = {1: (230, 30, 30), 2: (30, 30, 230)}
CLASSES = {1: "airplane", 2: "ship"}


@dataclass(frozen=True)
class TrackTruth:
    frame: int
    track_id: int
    box_px_xyxy: tuple[int, int, int, int]


def object_boxes(n_frames: int) -> list[TrackTruth]:
    """Exact pixel extents of every object in every frame (1-based frames)."""
    truth = []
    for k in range(1, n_frames + 1):
        x = 6 + 4 * (k - 1)
        truth.append(TrackTruth(k, 1, (x, 10, x + 14, 18)))
        y = 20 + 3 * (k - 1)
        truth.append(TrackTruth(k, 2, (60, y, 70, y + 8)))
    return truth


def frame_pixels(frame: int, truth: list[TrackTruth], seed: int = 7) -> np.ndarray:
    """(3, HEIGHT, WIDTH) uint8 pixels of one frame."""
    rng = np.random.default_rng(seed + frame)
    gray = rng.integers(60, 141, size=(HEIGHT, WIDTH), dtype=np.uint8)
    rgb = np.stack([gray, gray, gray])
    for t in truth:
        if t.frame == frame:
            x0, y0, x1, y1 = t.box_px_xyxy
            for band, value in enumerate(OBJECT_COLOURS[t.track_id]):
                rgb[band, y0:y1, x0:x1] = value
    return rgb


def make_sequence(folder: Path, n_frames: int = 10, *, driver: str = "GTiff") -> list[TrackTruth]:
    """Write frames ``frame_1.tif`` .. ``frame_<n>.tif`` (names sort naturally) and return the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = object_boxes(n_frames)
    suffix = {"GTiff": "tif", "PNG": "png"}[driver]
    for k in range(1, n_frames + 1):
        georef = driver == "GTiff"
        make_geotiff(
            folder / f"frame_{k}.{suffix}",
            data=frame_pixels(k, truth),
            crs=UTM33_CRS if georef else None,
            transform=UTM33_TRANSFORM if georef else None,
            driver=driver,
        )
    return truth


def write_mot(path: Path, truth: list[TrackTruth], *, with_class: bool = True) -> Path:
    """MOT lines ``frame,id,x,y,w,h,conf,class,visibility`` (class 1 = airplane, 2 = ship)."""
    lines = []
    for t in truth:
        x0, y0, x1, y1 = t.box_px_xyxy
        tail = f",1,{t.track_id},1" if with_class else ",1,-1,-1"
        lines.append(f"{t.frame},{t.track_id},{x0},{y0},{x1 - x0},{y1 - y0}{tail}")
    path.write_text("\n".join(lines) + "\n")
    return path
