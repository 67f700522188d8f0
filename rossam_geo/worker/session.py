"""What the backend keeps between requests (the loaded model) and how a segment request is carried out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rossam_geo.errors import (
    CancelledError,
    CheckpointError,
    EngineError,
    InputError,
    OptionError,
    WeightsError,
)
from rossam_geo.worker.protocol import (
    CANCELLED,
    ENGINE_ERROR,
    INPUT_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    WEIGHTS_ERROR,
    RpcError,
)

if TYPE_CHECKING:
    import geopandas
    import pyproj

    from rossam_geo.api import Segmenter
    from rossam_geo.engines import Engine
    from rossam_geo.segmentation.options import SegmentOptions
    from rossam_geo.worker.prompt_params import BoxClicks

log = logging.getLogger("rossam_geo.worker")

#: the request was cancelled before it finished (raised by the run, or before it starts).
Cancelled = CancelledError


@dataclass(frozen=True)
class ModelKey:
    """What identifies a loaded model: engine name, weights path (or None) and device."""

    engine: str
    weights: str | None
    device: str


class ModelCache:
    """Keeps the most recently used :class:`~rossam_geo.api.Segmenter` loaded; loading another replaces it.

    Holding one model at a time bounds memory: a vit_h model alone takes several GiB.
    """

    def __init__(self, factory: Callable[..., Segmenter] | None = None) -> None:
        self._factory = factory
        self._key: ModelKey | None = None
        self._segmenter: Segmenter | None = None
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, key: ModelKey) -> tuple[Segmenter, bool]:
        """Return (segmenter for ``key``, whether it was already loaded), loading it when needed."""
        with self._lock:
            if self._segmenter is not None and self._key == key:
                return self._segmenter, True
            self._segmenter = None
            self._key = None
            factory = self._factory
            if factory is None:
                from rossam_geo.api import Segmenter

                factory = Segmenter
            log.info("loading engine %s (weights %s, device %s)", key.engine, key.weights, key.device)
            segmenter = factory(engine=key.engine, weights=key.weights, device=key.device)
            self._segmenter, self._key = segmenter, key
            self.loads += 1
            return segmenter, False

    @property
    def current(self) -> ModelKey | None:
        """Key of the loaded model, if any."""
        return self._key


def rpc_error_from(exc: BaseException) -> RpcError:
    """Map a library exception to the JSON-RPC error sent to the client."""
    if isinstance(exc, RpcError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, Cancelled):
        return RpcError(CANCELLED, str(exc) or "request cancelled")
    if isinstance(exc, WeightsError | CheckpointError):
        return RpcError(WEIGHTS_ERROR, str(exc), {"type": name})
    if isinstance(exc, EngineError):
        return RpcError(ENGINE_ERROR, str(exc), {"type": name})
    if isinstance(exc, OptionError):  # an option that does not fit the raster (bands it lacks...)
        return RpcError(INVALID_PARAMS, exc.naming(f"options.{exc.option}"), {"type": name})
    if isinstance(exc, InputError | FileNotFoundError | IsADirectoryError | PermissionError):
        return RpcError(INPUT_ERROR, str(exc), {"type": name})
    return RpcError(INTERNAL_ERROR, f"internal error: {name}: {exc}; see the backend log", {"type": name})


def parse_options(options: dict[str, Any]) -> SegmentOptions:
    """A request's ``options`` object as :class:`~rossam_geo.segmentation.SegmentOptions`.

    Raises:
        RpcError: ``INVALID_PARAMS`` for an unknown option (naming the accepted ones) or a bad value (naming
            the option, the value and what is accepted).
    """
    from rossam_geo.segmentation.options import SegmentOptions, option_names

    accepted = option_names(SegmentOptions)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise RpcError(
            INVALID_PARAMS,
            f'"options" has unknown key(s) {", ".join(unknown)}; accepted: {", ".join(accepted)}',
        )
    try:
        return SegmentOptions.from_mapping(options)
    except OptionError as exc:
        raise rpc_error_from(exc) from None


def parse_crs(crs: str | None) -> pyproj.CRS | None:
    """Parse a client CRS string (EPSG code, WKT, PROJ string, URN...) with pyproj.

    Raises:
        RpcError: ``INPUT_ERROR`` for a CRS pyproj does not know, in one line.
    """
    from rossam_geo.validate import parse_crs as parse_crs_value

    if crs is None or not crs.strip():
        return None
    try:
        return parse_crs_value(crs, option='"crs"')
    except InputError as exc:
        raise RpcError(INPUT_ERROR, str(exc), {"type": type(exc).__name__}) from None


def run_segment(
    engine: Engine,
    raster: str,
    boxes: Sequence[tuple[float, float, float, float]],
    boxes_crs: pyproj.CRS | None,
    options: SegmentOptions,
    *,
    on_progress: Callable[[int, int], None],
    cancel_event: threading.Event,
    prompt_ids: Sequence[int | str] | None = None,
    clicks: Sequence[BoxClicks | None] | None = None,
) -> geopandas.GeoDataFrame:
    """Segment ``boxes`` over ``raster`` in one run, reporting progress and stopping when cancelled.

    Args:
        engine: the loaded engine.
        raster: raster path.
        boxes: (N, 4) XYXY boxes in ``boxes_crs`` (None: the raster's own CRS, or pixels when it has none).
        boxes_crs: CRS of the boxes.
        options: how to segment.
        on_progress: called with (done, total) after each box (and with (0, total) first).
        cancel_event: set by the reader thread to cancel.
        prompt_ids: the client's id of each box (None: the box indexes, from 0).
        clicks: per box, None or its clicks ([x, y] in ``boxes_crs``) and their labels (1 on the object, 0
            off it).

    Returns:
        GeoDataFrame with one row per box, in the raster CRS, with the prompt ids.

    Raises:
        CancelledError: ``cancel_event`` was set.
    """
    import numpy as np

    from rossam_geo.io import PromptSet, open_raster
    from rossam_geo.segmentation.points import PromptPoints
    from rossam_geo.segmentation.run import segment_scene

    boxes_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    total = len(boxes_array)
    with open_raster(raster) as reader:
        crs = boxes_crs if boxes_crs is not None else reader.info.crs
        points = None
        if clicks is not None:
            xy = tuple(np.array(c[0] if c else [], np.float64).reshape(-1, 2) for c in clicks)
            points = PromptPoints(xy, tuple(np.array(c[1] if c else [], np.int8) for c in clicks), crs)
        prompts = PromptSet(
            ids=list(prompt_ids) if prompt_ids is not None else list(range(total)),
            boxes_xyxy=boxes_array,
            crs=crs,
            classes=[None] * total,
            attributes=[{} for _ in range(total)],
            source="request",
            points=points,
        )
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            on_progress(done, total)

        on_progress(0, total)
        if cancel_event.is_set():
            raise CancelledError(f"cancelled after 0 of {total} boxes")
        result = segment_scene(
            reader, prompts, engine, options, on_progress=advance, should_stop=cancel_event.is_set
        )
    return result.features


def crs_member(crs: pyproj.CRS | None) -> dict[str, Any] | None:
    """The ``crs`` member of a result FeatureCollection.

    ``{"type": "name", "properties": {"name": "EPSG:32633", "wkt": <WKT2>}}``: ``name`` is the authority code
    when the CRS has one, else the WKT itself; ``wkt`` always holds the WKT2 (2019) text. ``None`` when the
    raster is not georeferenced: coordinates are then pixels, x right, y down.
    """
    if crs is None:
        return None
    wkt = crs.to_wkt()
    authority = crs.to_authority(min_confidence=100)
    name = f"{authority[0]}:{authority[1]}" if authority else wkt
    return {"type": "name", "properties": {"name": name, "wkt": wkt}}


def to_feature_collection(gdf: geopandas.GeoDataFrame) -> dict[str, Any]:
    """GeoJSON FeatureCollection (RFC 7946 layout, coordinates in the frame's own CRS) plus a ``crs`` member.

    Empty geometries (skipped or failed boxes) become ``"geometry": null``.
    """
    import shapely.geometry

    features = []
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    for index, row in enumerate(gdf.itertuples(index=False)):
        record = dict(zip(gdf.columns, row, strict=True))
        geom = record[gdf.geometry.name]
        geometry = None if geom is None or geom.is_empty else shapely.geometry.mapping(geom)
        properties = {name: _plain(record[name]) for name in columns}
        features.append({"type": "Feature", "id": index, "geometry": geometry, "properties": properties})
    crs = None if gdf.crs is None else gdf.crs
    return {"type": "FeatureCollection", "crs": crs_member(crs), "features": features}


def _plain(value: Any) -> Any:
    """A JSON-serialisable form of a dataframe cell."""
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float | int | str | bool):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def raster_info(path: str) -> dict[str, Any]:
    """Size, CRS and transform of a raster (``crs`` None and ``georeferenced`` False for plain frames)."""
    from rossam_geo.io import open_raster

    with open_raster(path) as reader:
        info = reader.info
    return {
        "path": info.path,
        "width": info.width,
        "height": info.height,
        "count": info.count,
        "dtype": info.dtype,
        "georeferenced": info.georeferenced,
        "crs": crs_member(info.crs),
        "transform": list(info.transform)[:6],
    }
