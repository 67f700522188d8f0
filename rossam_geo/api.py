"""Python API: segment objects in a scene from prompt boxes, and get polygons in a GeoDataFrame.

>>> import rossam_geo
>>> features = rossam_geo.segment("scene.tif", "boxes.gpkg", engine="grabcut")  # doctest: +SKIP
>>> seg = rossam_geo.Segmenter("rossam", device="cuda")  # keeps the model loaded  # doctest: +SKIP
>>> features = seg.segment("scene.tif", boxes, boxes_crs="EPSG:4326")  # doctest: +SKIP

A thin facade over :mod:`rossam_geo.segmentation`: keyword options are the fields of
:class:`~rossam_geo.segmentation.SegmentOptions` (how a scene is segmented) and
:class:`~rossam_geo.segmentation.PromptOptions` (how prompts are read), checked there.

Pixel convention for non-georeferenced frames (plain PNG/JPEG): x right (columns), y down (rows), pixel
(col, row) covers [col, col + 1) x [row, row + 1); polygons are then in these pixel coordinates, without CRS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rossam_geo.engines import Engine, get_engine
from rossam_geo.segmentation.options import PromptOptions, SegmentOptions, option_names
from rossam_geo.segmentation.points import Points as Points  # re-exported
from rossam_geo.segmentation.prompts import Boxes as Boxes  # re-exported
from rossam_geo.segmentation.prompts import prompts_from_geodataframe as prompts_from_geodataframe
from rossam_geo.segmentation.resume import RESUME_FIELDS as RESUME_FIELDS  # re-exported
from rossam_geo.segmentation.resume import check_resumable as check_resumable  # re-exported
from rossam_geo.segmentation.run import SceneSegmentation as SceneSegmentation  # re-exported

if TYPE_CHECKING:
    import geopandas


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


def split_options(options: Mapping[str, Any]) -> tuple[SegmentOptions, PromptOptions]:
    """Keyword options -> (segment options, prompt options), checked.

    Raises:
        InputError: an unknown option (the message names the valid ones) or a bad value.
    """
    from rossam_geo.errors import InputError

    segment_names, prompt_names = set(option_names(SegmentOptions)), set(option_names(PromptOptions))
    unknown = sorted(set(options) - segment_names - prompt_names)
    if unknown:
        valid = ", ".join([*option_names(SegmentOptions), *option_names(PromptOptions)])
        raise InputError(f"unknown option(s) {', '.join(unknown)}; valid options: {valid}")
    return (
        SegmentOptions(**{k: v for k, v in options.items() if k in segment_names}),
        PromptOptions(**{k: v for k, v in options.items() if k in prompt_names}),
    )


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
        points: Points = None,
        progress: bool = False,
        **options: Any,
    ) -> SceneSegmentation:
        """Like :meth:`segment`, returning the features with the pixel boxes, scene-CRS polygons and times."""
        from rossam_geo import io
        from rossam_geo.segmentation.points import attach_points
        from rossam_geo.segmentation.prompts import load_prompts
        from rossam_geo.segmentation.run import progress_bar, segment_scene

        segment_options, prompt_options = split_options(options)
        with io.open_raster(scene) as reader:
            prompts = attach_points(load_prompts(boxes, reader.info.name, prompt_options), points)
            with progress_bar(progress, len(prompts), f"segmenting {reader.info.name}") as advance:
                return segment_scene(reader, prompts, self.engine, segment_options, on_progress=advance)

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
        points: Points = None,
        progress: bool = False,
        **options: Any,
    ) -> SceneSegmentation:
        """Segment a scene into a GeoPackage layer, writing the features in chunks as the run goes.

        See :func:`rossam_geo.segmentation.segment_to_file`: each chunk is one transaction appended in
        place; ``mode`` is ``"create"`` (the file must not exist), ``"overwrite"`` (replace the layer
        ``out_layer`` only; the file's other layers stay), ``"append"`` or ``"resume"`` (finish an
        interrupted run: only the prompts without a finished feature are segmented, ``failed`` ones again,
        in prompt order; refused for another engine, model or prompt set). Writing over the layer the
        prompts are read from is refused.

        Args:
            scene: raster path.
            boxes: prompts, as for :meth:`segment`.
            output: the ``.gpkg`` file.
            out_layer: its layer (``layer`` in ``options`` is the prompt file's layer).
            mode: the write mode.
            every_seconds, every_features: when chunks are written.
            points: clicks that refine the boxes, as for :meth:`segment`.
            progress: draw a progress bar on stderr.
            **options: keyword options of :meth:`segment`.
        """
        from rossam_geo.segmentation.scene_file import segment_to_file
        from rossam_geo.segmentation.sink import OutputTarget

        segment_options, prompt_options = split_options(options)
        return segment_to_file(
            scene,
            boxes,
            self.engine,
            OutputTarget(Path(output), out_layer, mode),
            segment_options,
            prompt_options,
            every_seconds=every_seconds,
            every_features=every_features,
            progress=progress,
            points=points,
        )

    def segment(self, scene: str | Path, boxes: Boxes, **options: Any) -> geopandas.GeoDataFrame:
        """Segment one object per prompt box in a scene.

        Args:
            scene: raster path (GeoTIFF, COG, VRT, JPEG 2000, PNG, JPEG...).
            boxes: prompt file (GeoPackage/GeoJSON/Shapefile/CSV/COCO), GeoDataFrame, or (N, 4) XYXY array in
                ``boxes_crs`` (None: scene pixels).
            **options: ``progress`` (a rich bar on stderr) and the fields of
                :class:`~rossam_geo.segmentation.SegmentOptions` (``crop_size`` 512 px, ``upsample`` 2,
                ``crop``, ``batch_size``, ``bands``, ``simplify_px``, ``all_parts``, ``min_region_px``,
                ``min_score``, ``output_crs``, ``polygon_workers``) and
                :class:`~rossam_geo.segmentation.PromptOptions` (``boxes_crs``, ``layer``, ``class_field``,
                ``pixel``); see ``docs/segment.md``; and ``points``: clicks that refine the boxes
                (:mod:`rossam_geo.segmentation.points`): a points file (a point layer or CSV with
                ``prompt_id`` and ``label`` fields, 1 on the object, 0 off it), per prompt None or (K, 3)
                ``[x, y, label]`` rows in the prompts' coordinates, or a
                :class:`~rossam_geo.segmentation.points.PromptPoints`.

        Returns:
            A GeoDataFrame with one feature per prompt, in prompt order, in the scene CRS or ``output_crs``.
        """
        return self.segment_scene(scene, boxes, **options).features

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
    **options: Any,
) -> geopandas.GeoDataFrame:
    """Segment one object per prompt box in a scene and return polygons (see :meth:`Segmenter.segment`).

    Loads the engine for this call only; use :class:`Segmenter` to keep a model loaded. ``options`` that are
    not segment or prompt options (nor ``progress`` or ``points``) go to the engine's factory (for instance
    ``mode`` of the rossam engine); ``batch_size`` goes to both.
    """
    run_names = {*option_names(SegmentOptions), *option_names(PromptOptions), "progress", "points"}
    engine_options = {k: v for k, v in options.items() if k not in run_names}
    run_options = {k: v for k, v in options.items() if k in run_names}
    segmenter = Segmenter(
        engine, weights=weights, device=device, batch_size=options.get("batch_size"), **engine_options
    )
    return segmenter.segment(scene, boxes, **run_options)


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
