"""The segment use case: prompt boxes over a scene -> one polygon feature per prompt.

* :mod:`~rossam_geo.segmentation.options`: :class:`SegmentOptions` and :class:`PromptOptions`, the only list
  of the options, with every value checked;
* :mod:`~rossam_geo.segmentation.run`: :func:`segment_scene`, the one run of every entry point;
* :mod:`~rossam_geo.segmentation.features`: the output schema (:data:`OUTPUT_SCHEMA`) and the features;
* :mod:`~rossam_geo.segmentation.prompts`: prompts from any accepted value, and their fingerprint;
* :mod:`~rossam_geo.segmentation.sink`: the resumable GeoPackage output of every run (:class:`LayerSink`);
* :mod:`~rossam_geo.segmentation.resume`, :mod:`~rossam_geo.segmentation.output`: resuming a scene run;
* :mod:`~rossam_geo.segmentation.scene_file`: :func:`segment_to_file`.

The Python API (:mod:`rossam_geo.api`), the command line, the QGIS worker, Dask and tracks all go through
these.
"""

from __future__ import annotations

from rossam_geo.segmentation.features import OUTPUT_COLUMNS, OUTPUT_SCHEMA, STATUSES
from rossam_geo.segmentation.options import (
    PromptOptions,
    SegmentOptions,
    check_crs,
    check_layer_name,
    option_names,
)
from rossam_geo.segmentation.prompts import load_prompts, prompt_fingerprint, prompt_key
from rossam_geo.segmentation.run import SceneSegmentation, segment_scene
from rossam_geo.segmentation.scene_file import segment_to_file
from rossam_geo.segmentation.sink import MODES, LayerSink, OutputTarget

__all__ = [
    "MODES",
    "OUTPUT_COLUMNS",
    "OUTPUT_SCHEMA",
    "STATUSES",
    "LayerSink",
    "OutputTarget",
    "PromptOptions",
    "SceneSegmentation",
    "SegmentOptions",
    "check_crs",
    "check_layer_name",
    "load_prompts",
    "option_names",
    "prompt_fingerprint",
    "prompt_key",
    "segment_scene",
    "segment_to_file",
]
