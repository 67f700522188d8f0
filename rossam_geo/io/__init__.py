"""Reading scenes and prompt boxes, reading and writing vector layers: the only package of rossam_geo that
opens paths.

* :mod:`~rossam_geo.io.raster`: open a scene (:func:`open_raster`), read pixel windows as uint8 RGB;
* :mod:`~rossam_geo.io.stretch`: the contrast stretch from any raster type to uint8 (:class:`Stretch`);
* :mod:`~rossam_geo.io.images`: a raster's pixel grid without its pixels, one band of a small mask image;
* :mod:`~rossam_geo.io.prompts`: prompt boxes from vector files, CSV or COCO JSON (:func:`read_prompts`);
* :mod:`~rossam_geo.io.layers`: vector layers read whole or as attribute tables;
* :mod:`~rossam_geo.io.features`: GeoPackage writes in place, a transaction each (:func:`write_features`);
* :mod:`~rossam_geo.io.documents`: JSON documents and ``.npy`` arrays (:func:`read_json`, :func:`read_npy`);
* :mod:`~rossam_geo.io.files`: folders in natural order, text files, scenes named on a command line;
* :mod:`~rossam_geo.io.video`: video files (OpenCV) and image files written from arrays;
* :mod:`~rossam_geo.io.atomic`: whole files written beside their destination and moved into place.

Everything else in rossam_geo takes arrays, affines, CRSs and geometries.
"""

from __future__ import annotations

from rossam_geo.io.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from rossam_geo.io.documents import read_json, read_npy
from rossam_geo.io.features import (
    PIXEL_FRAME_DESCRIPTION,
    WriteMode,
    check_geopackage,
    delete_features,
    read_layer_metadata,
    recover_geopackage,
    write_features,
)
from rossam_geo.io.files import SCENE_SUFFIXES, expand_scenes, list_files, natural_key, read_head, read_text
from rossam_geo.io.images import PixelGrid, read_band, read_pixel_grid
from rossam_geo.io.layers import layer_names, read_layer_attributes, read_layer_table, read_vector_layer
from rossam_geo.io.prompts import (
    CLASS_FIELD_CANDIDATES,
    IMAGE_FIELD_CANDIDATES,
    SUPPORTED_PROMPT_FORMATS,
    VECTOR_SUFFIXES,
    PromptSet,
    prompt_layer,
    read_prompts,
)
from rossam_geo.io.raster import RasterReader, SceneInfo, open_raster
from rossam_geo.io.stretch import Stretch
from rossam_geo.io.video import open_video, write_image_rgb

__all__ = [
    "CLASS_FIELD_CANDIDATES",
    "IMAGE_FIELD_CANDIDATES",
    "PIXEL_FRAME_DESCRIPTION",
    "SCENE_SUFFIXES",
    "SUPPORTED_PROMPT_FORMATS",
    "VECTOR_SUFFIXES",
    "WriteMode",
    "atomic_path",
    "check_geopackage",
    "PixelGrid",
    "PromptSet",
    "RasterReader",
    "SceneInfo",
    "Stretch",
    "delete_features",
    "expand_scenes",
    "layer_names",
    "list_files",
    "natural_key",
    "open_raster",
    "open_video",
    "open_video",
    "prompt_layer",
    "read_band",
    "read_head",
    "read_head",
    "read_json",
    "read_layer_attributes",
    "read_layer_metadata",
    "read_layer_table",
    "read_npy",
    "read_pixel_grid",
    "read_text",
    "read_prompts",
    "read_vector_layer",
    "recover_geopackage",
    "write_bytes_atomic",
    "write_bytes_atomic",
    "write_features",
    "write_image_rgb",
    "write_text_atomic",
    "write_image_rgb",
    "write_text_atomic",
]
