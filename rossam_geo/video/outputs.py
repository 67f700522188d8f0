"""Files made from a tracks GeoPackage: per-frame instance mask PNGs, a COCO instance JSON, the jump report.

All of them are derived from the GeoPackage after the run (it is the single record of what was segmented), so
a resumed run makes them again, complete. Every file is written to a temporary file in its folder and moved
into place with :func:`os.replace`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.io.atomic import write_bytes_atomic

if TYPE_CHECKING:
    import geopandas

    from rossam_geo.video.frames import FrameInfo

__all__ = [
    "frame_masks",
    "read_done_pairs",
    "read_tracks",
    "write_coco",
    "write_jump_report",
    "write_masks_dir",
]


def _check_new(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"output {str(path)!r} exists; use --overwrite to replace it")
    if not path.parent.is_dir():
        raise InputError(f"output folder {str(path.parent)!r} does not exist; create it first")


def read_done_pairs(path: str | Path, layer: str) -> set[tuple[int, int]]:
    """(frame, track_id) pairs already in a tracks GeoPackage layer (empty set without that file or layer).

    Raises:
        InputError: the file cannot be read, or the layer exists but has no ``frame`` and ``track_id`` fields
            (not a tracks output).
    """
    from rossam_geo.io import read_layer_attributes

    table = read_layer_attributes(path, layer, ["frame", "track_id"])
    if table is None:
        return set()
    if not {"frame", "track_id"} <= set(table.columns):
        raise InputError(
            f"layer {layer!r} of {str(path)!r} has no frame and track_id fields, so it is not a tracks "
            "output; choose another output or layer"
        )
    return {(int(f), int(t)) for f, t in zip(table["frame"], table["track_id"], strict=True)}


def read_tracks(path: str | Path, layer: str) -> geopandas.GeoDataFrame:
    """The whole tracks layer, sorted by (frame, track_id).

    Raises:
        InputError: the file does not exist or cannot be read.
    """
    from rossam_geo.io import read_vector_layer

    gdf = read_vector_layer(path, layer=layer)
    return gdf.sort_values(["frame", "track_id"]).reset_index(drop=True)


def frame_masks(
    features: geopandas.GeoDataFrame, frame_info: Callable[[int], FrameInfo]
) -> dict[int, tuple[FrameInfo, list[tuple[int, np.ndarray]]]]:
    """Rasterize each frame's polygons back to pixel masks (pixel centres inside a polygon).

    Polygons made from masks have pixel-edge vertices, so this returns exactly the masks they came from.

    Args:
        features: a tracks layer (in the frames' CRS).
        frame_info: frame number -> :class:`FrameInfo` (size and transform).

    Returns:
        frame -> (info, [(track_id, (H, W) bool mask)] of its non-empty features, by track id).
    """
    from rasterio.features import rasterize

    out: dict[int, tuple[FrameInfo, list[tuple[int, np.ndarray]]]] = {}
    for frame, rows in features.groupby("frame", sort=True):
        info = frame_info(int(frame))
        masks = []
        for row in rows.sort_values("track_id").itertuples(index=False):
            geom = row.geometry
            if geom is None or geom.is_empty:
                continue
            mask = rasterize(
                [(geom, 1)],
                out_shape=(info.height, info.width),
                transform=info.transform,
                fill=0,
                dtype="uint8",
            ).astype(bool)
            masks.append((int(row.track_id), mask))
        out[int(frame)] = (info, masks)
    return out


def write_masks_dir(
    masks: dict[int, tuple[FrameInfo, list[tuple[int, np.ndarray]]]],
    folder: str | Path,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Write one uint16 PNG per frame, ``<frame:06d>.png``: pixel value = track id, 0 = background.

    Where masks of two tracks overlap, the larger track id wins.

    Raises:
        InputError: a track id outside 1..65535 (does not fit uint16).
    """
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for frame, (info, items) in sorted(masks.items()):
        label = np.zeros((info.height, info.width), dtype=np.uint16)
        for track_id, mask in items:
            if not 1 <= track_id <= 65535:
                raise InputError(f"track id {track_id} does not fit a uint16 mask PNG (1 to 65535)")
            label[mask] = track_id
        path = folder / f"{frame:06d}.png"
        _check_new(path, overwrite)
        ok, encoded = cv2.imencode(".png", label)
        if not ok:
            raise InputError(f"cannot encode the mask of frame {frame} as PNG")
        write_bytes_atomic(path, encoded.tobytes())
        written.append(path)
    return written


def write_coco(
    masks: dict[int, tuple[FrameInfo, list[tuple[int, np.ndarray]]]],
    features: geopandas.GeoDataFrame,
    path: str | Path,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a COCO instances JSON: images = frames, annotations = (frame, track) masks as RLE.

    Image ids are frame numbers and file names are the frames' names; each annotation carries ``track_id``
    and ``frame``. Categories are the classes in sorted order (``"object"`` for features without a class).

    Returns:
        The document written.
    """
    from pycocotools import mask as mask_utils

    path = Path(path)
    _check_new(path, overwrite)
    classes = _classes(features)
    names = sorted(set(classes.values()))
    category_ids = {name: k for k, name in enumerate(names, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for frame, (info, items) in sorted(masks.items()):
        images.append({"id": frame, "file_name": info.name, "width": info.width, "height": info.height})
        for track_id, mask in items:
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame,
                    "category_id": category_ids[classes[(frame, track_id)]],
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)),
                    "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "iscrowd": 0,
                    "track_id": track_id,
                    "frame": frame,
                }
            )
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for n, i in category_ids.items()],
    }
    write_bytes_atomic(path, json.dumps(doc).encode("utf-8"))
    return doc


def _classes(features: geopandas.GeoDataFrame) -> dict[tuple[int, int], str]:
    values = features["class"] if "class" in features else [None] * len(features)
    return {
        (int(f), int(t)): c if isinstance(c, str) and c else "object"
        for f, t, c in zip(features["frame"], features["track_id"], values, strict=True)
    }


def write_jump_report(
    records: Sequence[dict[str, Any]], summary: dict[str, Any], path: str | Path, *, overwrite: bool = False
) -> list[Path]:
    """Write the jump report: ``path`` as CSV (``.csv``) or JSON (``.json``: records and summary).

    A CSV also gets ``<stem>.summary.json`` beside it.

    Returns:
        The files written.
    """
    path = Path(path)
    _check_new(path, overwrite)
    if path.suffix.lower() == ".json":
        write_bytes_atomic(
            path, json.dumps({"summary": summary, "pairs": list(records)}, indent=1).encode("utf-8")
        )
        return [path]
    if path.suffix.lower() != ".csv":
        raise InputError(f"jump report {str(path)!r} must end in .csv or .json")
    buffer = io.StringIO()
    fields = [
        "track_id",
        "frame",
        "previous_frame",
        "area",
        "previous_area",
        "area_ratio",
        "iou_aligned",
        "flagged",
        "why",
    ]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(records)
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))
    summary_path = path.with_suffix(".summary.json")
    _check_new(summary_path, overwrite)
    write_bytes_atomic(summary_path, json.dumps(summary, indent=1).encode("utf-8"))
    return [path, summary_path]
