"""Python API: segment objects in a scene from prompt boxes, and get polygons in a GeoDataFrame.

>>> import rossam_geo
>>> features = rossam_geo.segment("scene.tif", "boxes.gpkg", engine="grabcut")  # doctest: +SKIP
>>> seg = rossam_geo.Segmenter("rossam", device="cuda")  # keeps the model loaded  # doctest: +SKIP
>>> features = seg.segment("scene.tif", boxes, boxes_crs="EPSG:4326")  # doctest: +SKIP

Pixel convention for non-georeferenced frames (plain PNG/JPEG): x right (columns), y down (rows), pixel
(col, row) covers [col, col + 1) x [row, row + 1); polygons are then in these pixel coordinates, without CRS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rossam_geo.engines import Engine, get_engine
from rossam_geo.errors import CRSError, InputError, PromptError
from rossam_geo.pipeline.output import RESUME_FIELDS as RESUME_FIELDS  # re-exported
from rossam_geo.pipeline.output import ChunkedFeatures, FeatureFrameBuilder
from rossam_geo.pipeline.output import check_resumable as check_resumable  # re-exported
from rossam_geo.pipeline.polygons import DEFAULT_MIN_REGION_PX
from rossam_geo.pipeline.timing import StageTimes

if TYPE_CHECKING:
    import geopandas
    from shapely.geometry.base import BaseGeometry

    from rossam_geo.io import PromptSet, SceneInfo
    from rossam_geo.pipeline.output import OutputSink

#: what ``boxes`` may be: a prompt file, a GeoDataFrame, an (N, 4) array, or prompts already read.
Boxes = Any


@dataclass(frozen=True)
class MaskResult:
    """One object segmented in an in-memory image.

    Attributes:
        mask: (H, W) bool, the object in the image's pixel frame.
        score: the engine's score (NaN when not predicted).
        status: "ok", "skipped" or "failed".
        reason: why it was skipped or failed, or an engine note; "" when none.
    """

    mask: np.ndarray
    score: float
    status: str
    reason: str


@dataclass(frozen=True)
class SceneOptions:
    """How one scene is segmented: the keyword options of :meth:`Segmenter.segment` (see there)."""

    crop_size: int = 512
    upsample: float = 2.0
    crop: bool = True
    batch_size: int | None = None
    bands: Sequence[int] | None = None
    simplify_px: float = 0.0
    all_parts: bool = False
    min_region_px: float = DEFAULT_MIN_REGION_PX
    polygon_workers: int | None = None
    output_crs: Any = None
    boxes_crs: Any = None
    layer: str | None = None
    class_field: str | None = None
    pixel: bool = False
    progress: bool = False

    @classmethod
    def from_keywords(cls, options: dict[str, Any]) -> SceneOptions:
        """Build from keyword options, naming the valid ones when one is unknown.

        Raises:
            InputError: an unknown option.
        """
        valid = tuple(f.name for f in fields(cls))
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}")
        return cls(**options)


@dataclass
class SceneSegmentation:
    """Everything one :meth:`Segmenter.segment_scene` run produced.

    Attributes:
        features: one feature per prompt, in prompt order (see ``docs/segment.md`` for the fields).
        scene: the scene's description.
        boxes_px_xyxy: (N, 4) the prompt boxes in scene pixels (before clipping; NaN where unusable).
        geometries_scene: the polygons in the scene CRS (pixels when not georeferenced), in prompt order.
        seconds: wall time of the segmentation (prompts read to features built).
        already_done: prompts that a resumed run (:meth:`Segmenter.segment_to_file`) found finished in the
            output and did not segment again; 0 otherwise.
        timings: the busy seconds of each stage (reads, engine, polygons, writes).
    """

    features: geopandas.GeoDataFrame
    scene: SceneInfo
    boxes_px_xyxy: np.ndarray
    geometries_scene: list[BaseGeometry]
    seconds: float
    already_done: int = 0
    timings: StageTimes = field(default_factory=StageTimes)


def prompts_from_geodataframe(
    gdf: geopandas.GeoDataFrame, *, class_field: str | None = None, boxes_crs: Any = None
) -> PromptSet:
    """Prompts from a GeoDataFrame: each feature's envelope; class from ``class_field`` (default: the first
    of ``class``, ``label``, ``category``, ``class_name``).

    Rows without geometry keep a NaN box (reported as skipped). ``boxes_crs`` applies only when the frame
    has no CRS.
    """
    import pyproj

    from rossam_geo.io import CLASS_FIELD_CANDIDATES, PromptSet

    geometry = gdf.geometry
    boxes = np.full((len(gdf), 4), np.nan, dtype=np.float64)
    if len(gdf):
        present = ~(geometry.isna() | geometry.is_empty).to_numpy()
        boxes[present] = geometry[present].bounds.to_numpy(dtype=np.float64)

    columns = [str(c) for c in gdf.columns if c != geometry.name]
    by_lower = {c.lower(): c for c in columns}
    if class_field is not None:
        class_col: str | None = class_field if class_field in columns else by_lower.get(class_field.lower())
        if class_col is None:
            raise PromptError(
                f"class field {class_field!r} not found; available columns: {', '.join(columns) or '(none)'}"
            )
    else:
        class_col = next((by_lower[c] for c in CLASS_FIELD_CANDIDATES if c in by_lower), None)
    classes: list[str | None] = (
        [None if v is None or v != v else str(v) for v in gdf[class_col]] if class_col else [None] * len(gdf)
    )
    attr_cols = [c for c in columns if c != class_col]
    attributes = gdf[attr_cols].to_dict("records") if attr_cols else [{} for _ in range(len(gdf))]
    crs_input = gdf.crs if gdf.crs is not None else boxes_crs
    crs = pyproj.CRS.from_user_input(crs_input) if crs_input is not None else None
    return PromptSet(
        ids=list(gdf.index),
        boxes_xyxy=boxes,
        crs=crs,
        classes=classes,
        attributes=attributes,
        source="GeoDataFrame",
    )


def _load_prompts(boxes: Boxes, scene_name: str, options: SceneOptions) -> PromptSet:
    """Turn any accepted ``boxes`` value into a PromptSet (read with ``options``' prompt settings)."""
    import pyproj

    from rossam_geo import io

    boxes_crs, class_field, pixel = options.boxes_crs, options.class_field, options.pixel

    if isinstance(boxes, io.PromptSet):
        return boxes
    if isinstance(boxes, (str, Path)):
        crs_wkt = None if boxes_crs is None else pyproj.CRS.from_user_input(boxes_crs).to_wkt()
        return io.read_prompts(
            boxes,
            layer=options.layer,
            crs=crs_wkt,
            class_field=class_field,
            scene_name=scene_name,
            pixel=pixel,
        )
    if hasattr(boxes, "geometry") and hasattr(boxes, "crs"):
        return prompts_from_geodataframe(boxes, class_field=class_field, boxes_crs=boxes_crs)
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise PromptError(
            f"boxes must be a prompt file, a GeoDataFrame or an (N, 4) XYXY array, got shape {array.shape}"
        )
    crs = None if boxes_crs is None or pixel else pyproj.CRS.from_user_input(boxes_crs)
    return io.PromptSet(
        ids=list(range(len(array))),
        boxes_xyxy=array,
        crs=crs,
        classes=[None] * len(array),
        attributes=[{} for _ in range(len(array))],
        source="array",
    )


@contextmanager
def _progress(enabled: bool, total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr over ``total`` boxes; yields its advance callback (None if disabled)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class Segmenter:
    """A segmentation engine kept loaded between calls.

    Args:
        engine: engine name (``"rossam"``, ``"sam"``, ``"hq-sam"``, ``"grabcut"``, ``"box"``) or an object
            following the :class:`rossam_geo.engines.Engine` protocol.
        weights: weights file or registry name for SAM-family engines (None: the engine's default).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        **options: further engine options (for instance ``batch_size``).
    """

    def __init__(
        self, engine: str | Engine = "rossam", weights: Any = None, device: str = "auto", **options: Any
    ) -> None:
        if isinstance(engine, str):
            self.engine: Engine = get_engine(engine, weights=weights, device=device, **options)
        else:
            self.engine = engine

    def segment_scene(
        self,
        scene: str | Path,
        boxes: Boxes,
        *,
        crop_size: int = 512,
        upsample: float = 2.0,
        crop: bool = True,
        batch_size: int | None = None,
        bands: Sequence[int] | None = None,
        simplify_px: float = 0.0,
        all_parts: bool = False,
        min_region_px: float = DEFAULT_MIN_REGION_PX,
        polygon_workers: int | None = None,
        output_crs: Any = None,
        boxes_crs: Any = None,
        layer: str | None = None,
        class_field: str | None = None,
        pixel: bool = False,
        progress: bool = False,
    ) -> SceneSegmentation:
        """Like :meth:`segment`, returning the features with the pixel boxes and scene-CRS polygons."""
        options = SceneOptions(
            crop_size=crop_size,
            upsample=upsample,
            crop=crop,
            batch_size=batch_size,
            bands=bands,
            simplify_px=simplify_px,
            all_parts=all_parts,
            min_region_px=min_region_px,
            polygon_workers=polygon_workers,
            output_crs=output_crs,
            boxes_crs=boxes_crs,
            layer=layer,
            class_field=class_field,
            pixel=pixel,
            progress=progress,
        )
        return self._run_scene(scene, boxes, None, options)

    def segment_to_file(
        self,
        scene: str | Path,
        boxes: Boxes,
        output: str | Path,
        *,
        out_layer: str = "objects",
        mode: Literal["create", "overwrite", "append", "resume"] = "create",
        every_seconds: float = 30.0,
        every_features: int = 1000,
        **options: Any,
    ) -> SceneSegmentation:
        """Segment a scene into a GeoPackage layer, writing the features in chunks as the run goes.

        Each chunk is one atomic write (:class:`rossam_geo.io.GeoPackageWriter`: a temporary copy of the file
        moved into place), made at least every ``every_seconds`` and whenever ``every_features`` wait, and
        once more when the run is interrupted with Ctrl-C; a run killed outright loses at most the features
        of the last ``every_seconds``. ``mode="resume"`` then finishes the run.

        Args:
            scene: raster path.
            boxes: prompts, as for :meth:`segment`.
            output: the ``.gpkg`` file.
            out_layer: its layer (``layer`` in ``options`` is the prompt file's layer).
            mode: ``"create"`` (the output must not exist), ``"overwrite"`` (replaced at the first
                chunk), ``"append"`` (add to the layer) or ``"resume"``: keep the features of this scene
                already in the layer (matched on ``source`` = the scene's file name and ``prompt_id``),
                segment only the missing prompts, and replace the features that ended ``failed`` by their
                new result (in the same atomic write as the new feature). Without an output, ``"resume"``
                is a normal run.
            every_seconds, every_features: when chunks are written.
            **options: keyword options of :meth:`segment_scene`.

        Returns:
            The segmentation of the prompts segmented by this call (all of them unless resumed), with
            ``already_done`` counting the prompts a resumed run found finished.

        Raises:
            OutputExistsError: ``mode="create"`` and the output exists.
            InputError: a wrong mode, or ``mode="resume"`` on a layer made by another engine or model, or
                on a layer that rossam_geo did not write.
        """
        from rossam_geo.pipeline import output as pipeline_output

        settings = SceneOptions.from_keywords(options)
        out_path = pipeline_output.check_write_mode(output, mode)
        scene_name = Path(str(scene)).name
        prompts = _load_prompts(boxes, scene_name, settings)
        run = pipeline_output.open_output(
            out_path,
            out_layer,
            mode,
            scene_name=scene_name,
            prompt_ids=prompts.ids,
            engine=self.engine,
            every_seconds=every_seconds,
            every_features=every_features,
        )
        todo = pipeline_output.subset_prompts(prompts, run.todo)
        result = self._run_scene(scene, todo, run.sink, settings)
        run.finish(result.features)
        result.already_done = run.already_done
        return result

    def _run_scene(
        self, scene: str | Path, boxes: Boxes, sink: OutputSink | None, options: SceneOptions
    ) -> SceneSegmentation:
        """:meth:`segment_scene`, handing the features to ``sink`` in chunks when one is given."""
        from rossam_geo import geo, io
        from rossam_geo.pipeline.polygons import PolygonSettings, iter_box_polygons
        from rossam_geo.pipeline.run import ReaderSource

        started = time.perf_counter()
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with io.open_raster(scene) as reader:
            info = reader.info
            if options.output_crs is not None and info.crs is None:
                raise CRSError(
                    f"scene {info.name!r} has no CRS, so its polygons cannot be reprojected to "
                    f"{options.output_crs!r}; drop the output CRS"
                )
            prompts = _load_prompts(boxes, info.name, options)
            if prompts.crs is None:
                boxes_px = np.asarray(prompts.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
            else:
                boxes_px = geo.boxes_to_pixels(prompts.boxes_xyxy, prompts.crs, info)
            frame = FeatureFrameBuilder(
                prompts,
                info,
                self.engine,
                options.crop_size,
                options.upsample,
                created,
                options.output_crs,
                sink is not None,
            )
            stretch = reader.compute_stretch(options.bands) if info.dtype != "uint8" else None
            source = ReaderSource(reader, bands=options.bands, stretch=stretch)
            settings = PolygonSettings.for_scene(
                info.transform,
                info.crs,
                options.output_crs,
                all_parts=options.all_parts,
                simplify_px=options.simplify_px,
                min_region_px=options.min_region_px,
            )
            collected = ChunkedFeatures(frame, sink)
            timings = StageTimes()
            with (
                _progress(options.progress, len(boxes_px), f"segmenting {info.name}") as advance,
                collected.collecting(),
            ):
                for outcome, polygon in iter_box_polygons(
                    source,
                    boxes_px,
                    self.engine,
                    settings,
                    workers=options.polygon_workers,
                    timings=timings,
                    crop=options.crop,
                    crop_size=options.crop_size,
                    upsample=options.upsample,
                    batch_size=options.batch_size,
                    on_progress=advance,
                ):
                    collected.add(outcome, polygon)
        features = collected.features()
        timings.add("write", collected.write_seconds)
        geometries = [polygon.geometry for polygon in collected.polygons]
        return SceneSegmentation(
            features, info, boxes_px, geometries, time.perf_counter() - started, timings=timings
        )

    def segment(self, scene: str | Path, boxes: Boxes, **kwargs: Any) -> geopandas.GeoDataFrame:
        """Segment one object per prompt box in a scene.

        Args:
            scene: raster path (GeoTIFF, COG, VRT, JPEG 2000, PNG, JPEG...).
            boxes: prompt file (GeoPackage/GeoJSON/Shapefile/CSV/COCO), GeoDataFrame, or (N, 4) XYXY array in
                ``boxes_crs`` (None: scene pixels).
            **kwargs: ``crop_size`` (512 px), ``upsample`` (2), ``crop`` (True; False resizes the whole raster
                to the model input and reads it whole), ``batch_size``, ``bands`` (1-based), ``simplify_px``,
                ``all_parts``, ``min_region_px`` (holes and islands smaller than this many pixels are removed
                before polygonizing; 0 keeps them), ``polygon_workers`` (None: automatic), ``output_crs``,
                ``boxes_crs``, ``layer``, ``class_field``, ``pixel`` (prompt coordinates are scene pixels),
                ``progress`` (rich bar on stderr).

        Returns:
            A GeoDataFrame with one feature per prompt, in prompt order, in the scene CRS or ``output_crs``.
        """
        return self.segment_scene(scene, boxes, **kwargs).features

    def segment_array(
        self,
        image: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        *,
        crop_size: int = 512,
        upsample: float = 2.0,
        crop: bool = True,
        batch_size: int | None = None,
        all_parts: bool = False,
    ) -> list[MaskResult]:
        """Segment one object per box in an in-memory image (no georeferencing).

        Args:
            image: (H, W, 3) or (H, W) uint8.
            boxes_px_xyxy: (N, 4) XYXY boxes in the image's pixels (x right, y down).
            crop_size, upsample, crop, batch_size: as for :meth:`segment`.
            all_parts: keep every mask part overlapping the box, not only the largest overlapping one.

        Returns:
            One :class:`MaskResult` per box, in order; masks are (H, W) bool.
        """
        from rossam_geo.geo import keep_box_parts
        from rossam_geo.pipeline.run import ArraySource, iter_box_masks

        source = ArraySource(image)
        results = []
        for outcome in iter_box_masks(
            source,
            np.asarray(boxes_px_xyxy, dtype=np.float64).reshape(-1, 4),
            self.engine,
            crop=crop,
            crop_size=crop_size,
            upsample=upsample,
            batch_size=batch_size,
        ):
            full = np.zeros((source.height, source.width), bool)
            if outcome.mask is not None and outcome.plan is not None:
                plan = outcome.plan
                r0, c0 = plan.row_off, plan.col_off
                r1, c1 = min(r0 + plan.height, source.height), min(c0 + plan.width, source.width)
                full[r0:r1, c0:c1] = outcome.mask[: r1 - r0, : c1 - c0]
                full = keep_box_parts(full, outcome.box_px_xyxy, all_parts=all_parts)
            results.append(MaskResult(full, outcome.score, outcome.status, outcome.reason))
        return results


def segment(
    scene: str | Path,
    boxes: Boxes,
    *,
    engine: str | Engine = "rossam",
    weights: Any = None,
    device: str = "auto",
    crop_size: int = 512,
    upsample: float = 2.0,
    batch_size: int | None = None,
    bands: Sequence[int] | None = None,
    simplify_px: float = 0.0,
    all_parts: bool = False,
    min_region_px: float = DEFAULT_MIN_REGION_PX,
    polygon_workers: int | None = None,
    output_crs: Any = None,
    boxes_crs: Any = None,
    layer: str | None = None,
    class_field: str | None = None,
    progress: bool = False,
    crop: bool = True,
    pixel: bool = False,
    **engine_options: Any,
) -> geopandas.GeoDataFrame:
    """Segment one object per prompt box in a scene and return polygons (see :meth:`Segmenter.segment`).

    Loads the engine for this call only; use :class:`Segmenter` to keep a model loaded. ``engine_options``
    go to the engine's factory (for instance ``mode`` of the rossam engine).
    """
    segmenter = Segmenter(engine, weights=weights, device=device, batch_size=batch_size, **engine_options)
    return segmenter.segment(
        scene,
        boxes,
        crop_size=crop_size,
        upsample=upsample,
        crop=crop,
        batch_size=batch_size,
        bands=bands,
        simplify_px=simplify_px,
        all_parts=all_parts,
        min_region_px=min_region_px,
        polygon_workers=polygon_workers,
        output_crs=output_crs,
        boxes_crs=boxes_crs,
        layer=layer,
        class_field=class_field,
        pixel=pixel,
        progress=progress,
    )


def segment_array(
    image: np.ndarray, boxes_px_xyxy: np.ndarray, engine: str | Engine = "rossam", **kwargs: Any
) -> list[MaskResult]:
    """Segment one object per box in an in-memory image; ``kwargs`` go to :class:`Segmenter` (weights,
    device, batch_size) and :meth:`Segmenter.segment_array` (crop_size, upsample, crop, all_parts)."""
    call_keys = {"crop_size", "upsample", "crop", "all_parts"}
    call_kwargs = {k: v for k, v in kwargs.items() if k in call_keys}
    engine_kwargs = {k: v for k, v in kwargs.items() if k not in call_keys}
    segmenter = Segmenter(engine, **engine_kwargs)
    return segmenter.segment_array(image, boxes_px_xyxy, batch_size=kwargs.get("batch_size"), **call_kwargs)
