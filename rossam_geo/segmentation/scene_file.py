"""A scene segmented into a GeoPackage layer, the features written in chunks as the run goes, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rossam_geo.segmentation.features import OUTPUT_COLUMNS
from rossam_geo.segmentation.options import PromptOptions, SegmentOptions
from rossam_geo.segmentation.output import open_scene_output
from rossam_geo.segmentation.points import Points, attach_points
from rossam_geo.segmentation.prompts import Boxes, load_prompts, subset
from rossam_geo.segmentation.run import SceneSegmentation, check_scene, progress_bar, segment_scene
from rossam_geo.segmentation.sink import LayerSink, OutputTarget

if TYPE_CHECKING:
    from rossam_geo.engines import Engine

__all__ = ["check_inputs", "check_target", "segment_to_file"]


def check_target(target: OutputTarget, boxes: Boxes, prompt_options: PromptOptions) -> None:
    """Check the output of a run before any work (see :meth:`OutputTarget.check`): the prompts' own layer,
    when the prompts come from a vector file, may not be written over."""
    from rossam_geo import io

    prompts_path = boxes if isinstance(boxes, (str, Path)) else None
    layer = io.prompt_layer(prompts_path, prompt_options.layer) if prompts_path is not None else None
    target.check(prompts_path, layer, fields=OUTPUT_COLUMNS)


def check_inputs(
    scene: str | Path, boxes: Boxes, options: SegmentOptions, prompt_options: PromptOptions
) -> None:
    """Check a run's scene and prompts before any work (before an engine is loaded): the scene opens, the
    options fit it (:func:`~rossam_geo.segmentation.run.check_scene`), and the prompts can be read for it.

    Raises:
        RasterError, PromptError, CRSError, OptionError: what :func:`segment_to_file` would raise for them.
    """
    from rossam_geo import io

    with io.open_raster(scene) as reader:
        check_scene(reader, options)
        load_prompts(boxes, reader.info.name, prompt_options)


def segment_to_file(
    scene: str | Path,
    boxes: Boxes,
    engine: Engine,
    target: OutputTarget,
    options: SegmentOptions | None = None,
    prompt_options: PromptOptions | None = None,
    *,
    every_seconds: float = 30.0,
    every_features: int = 1000,
    progress: bool = False,
    points: Points = None,
) -> SceneSegmentation:
    """Segment a scene into a GeoPackage layer, writing the features in chunks as the run goes.

    Each chunk is one transaction appended to the layer in place, made at least every ``every_seconds``
    and whenever ``every_features`` wait, and once more when the run is interrupted with Ctrl-C; a killed
    run leaves a valid file holding every chunk written before. ``mode="resume"`` then finishes the run:
    the features of the scene already in the layer (``source`` = the scene's file name, ``prompt_id``) are
    kept, only the prompts without a finished feature are segmented, a ``failed`` feature is replaced by
    its new result, and the scene's features stay in prompt order.

    Args:
        scene: raster path.
        boxes: prompts (a prompt file, GeoDataFrame, (N, 4) array or PromptSet).
        engine: the engine.
        target: the output layer and the write mode.
        options, prompt_options: how to segment, how to read the prompts.
        every_seconds, every_features: when chunks are written.
        progress: draw a progress bar on stderr.
        points: clicks that refine the boxes (:func:`rossam_geo.segmentation.points.attach_points`); they
            are part of the prompt set's fingerprint.

    Returns:
        The segmentation of the prompts segmented by this call (all of them unless resumed), with
        ``already_done`` counting the prompts a resumed run found finished.

    Raises:
        OutputExistsError: ``mode="create"`` and the output exists.
        InputError: a wrong mode or layer name, the prompts' own layer as output, or resuming a layer made by
            another engine or model, from other prompts, or not written by rossam_geo.
    """
    from rossam_geo import io

    prompt_options = prompt_options or PromptOptions()
    check_target(target, boxes, prompt_options)
    with io.open_raster(scene) as reader:
        prompts = attach_points(load_prompts(boxes, reader.info.name, prompt_options), points)
        sink = LayerSink(target, every_seconds=every_seconds, every_features=every_features)
        output = open_scene_output(sink, prompts, reader.info.name, engine)
        todo = subset(prompts, output.todo)
        with progress_bar(progress, len(todo), f"segmenting {reader.info.name}") as advance:
            result = segment_scene(reader, todo, engine, options, output=output, on_progress=advance)
        output.finish(result.features)
    result.already_done = output.already_done
    return result
