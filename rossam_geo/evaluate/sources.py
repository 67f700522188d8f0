"""Reading ground truth and predictions into per-object masks on the ground truth's pixel grids.

Ground truth:
    * a COCO instance JSON (masks as RLE or polygons, decoded with pycocotools); object id = annotation id,
      class = category name, one pixel grid per image (``height`` x ``width``, pixel frame, no CRS);
    * polygons in a vector file over a raster: rasterized in the raster's pixel grid (pixel centres inside
      the polygon, ``rasterio.features.rasterize``); object id = ``id_field`` or the feature id (fid).

Predictions (matched to the ground truth by id, or by a rule of :mod:`rossam_geo.evaluate.rules` when they
carry none; a prediction is rasterized on its ground-truth object's grid):
    * a vector file written by ``rossam-geo segment`` (fields ``prompt_id``, ``class``, ``score``,
      ``status``, ``reason``), in the raster's CRS or, for COCO ground truth, in pixel coordinates (no CRS);
      a georeferenced prediction over COCO ground truth needs the image as ``raster`` to give the grid;
    * a COCO results JSON: a list of
      ``{image_id, category_id, segmentation (RLE), score, annotation_id | id}``;
    * a folder of mask rasters, one per object, named ``<prompt_id>.png`` / ``.tif`` / ``.tiff`` (nonzero =
      object), each the size of its image.

Ids are compared as strings, so ``7`` and ``"7"`` match. A prediction that cannot be read is kept with status
``"error"`` and its reason; the other objects are scored as usual.
"""

from __future__ import annotations

from pathlib import Path

from rossam_geo.errors import InputError, RasterError
from rossam_geo.evaluate.coco import decode_coco_segmentation, read_coco_ground_truth, read_coco_results
from rossam_geo.evaluate.masks import CroppedMask
from rossam_geo.evaluate.objects import (
    GroundTruth,
    GTObject,
    ImageGrid,
    Prediction,
    Predictions,
    object_key,
)
from rossam_geo.evaluate.rules import MatchRule, check_rule
from rossam_geo.evaluate.vector import (
    rasterize_geometry,
    read_raster_grid,
    read_vector_ground_truth,
    read_vector_predictions,
)
from rossam_geo.io import list_files, read_band, read_head

MASK_SUFFIXES = (".png", ".tif", ".tiff")


def read_ground_truth(
    path: str | Path,
    *,
    raster: str | Path | None = None,
    layer: str | None = None,
    id_field: str | None = None,
    class_field: str | None = None,
) -> GroundTruth:
    """Read ground truth: a COCO JSON, or (with ``raster``) polygons in any vector format.

    A ``.json`` file holding a COCO dict is read as COCO; anything else is a vector file over ``raster``.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and _looks_like_coco(path):
        return read_coco_ground_truth(path)
    if raster is None:
        raise InputError(
            f"ground truth {path} is not a COCO JSON, so it is read as polygons; pass --raster with the "
            "image they outline"
        )
    return read_vector_ground_truth(path, raster, layer=layer, id_field=id_field, class_field=class_field)


def _looks_like_coco(path: Path) -> bool:
    if not path.exists():
        raise InputError(f"file not found: {path}; check the path")
    head = read_head(path).lstrip()
    return head.startswith("{") and '"FeatureCollection"' not in head and '"features"' not in head


def read_mask_folder(path: str | Path, gt: GroundTruth) -> Predictions:
    """Read a folder of per-object mask rasters named ``<prompt_id>.png|.tif|.tiff`` (nonzero = object)."""
    folder = Path(path)
    matched: dict[str, Prediction] = {}
    unmatched: list[str] = []
    for file in sorted(list_files(folder, MASK_SUFFIXES)):
        oid = file.stem
        obj = gt.objects.get(oid)
        if obj is None:
            unmatched.append(oid)
            continue
        if oid in matched:
            matched[oid] = Prediction(oid, None, None, "error", f"several mask files for id {oid}")
            continue
        grid = gt.images[obj.image_id]
        try:
            band = read_band(file)
        except RasterError as exc:
            matched[oid] = Prediction(oid, None, None, "error", str(exc))
            continue
        if band.shape != grid.shape:
            matched[oid] = Prediction(
                oid,
                None,
                None,
                "error",
                f"{file.name} is {band.shape[0]}x{band.shape[1]} px but image {grid.name} is "
                f"{grid.height}x{grid.width} px",
            )
            continue
        matched[oid] = Prediction(oid, CroppedMask.from_full(band))
    return Predictions(matched=matched, unmatched_ids=unmatched, source=str(folder))


def read_predictions(
    path: str | Path,
    gt: GroundTruth,
    *,
    raster: str | Path | None = None,
    layer: str | None = None,
    match: MatchRule = "id",
) -> Predictions:
    """Read predictions of any supported kind, matched to ``gt`` by object id or by ``match``.

    A folder is read as mask rasters, a ``.json`` holding a JSON list as COCO results, anything else as a
    vector file.

    Args:
        match: ``"id"`` (default), or for predictions without ids ``"position"`` or ``"overlap"`` (see
            :mod:`rossam_geo.evaluate.rules`); mask folders are always matched by file name.

    Raises:
        InputError: missing file, predictions without ids under ``match="id"``, or a rule for a mask folder.
    """
    path = Path(path)
    match = check_rule(match)
    if path.is_dir():
        if match != "id":
            raise InputError(
                f"mask folder {path} is matched by file name (<prompt_id>.png); drop --match {match}"
            )
        return read_mask_folder(path, gt)
    if not path.exists():
        raise InputError(f"predictions not found: {path}; check the path")
    if path.suffix.lower() == ".json":
        head = read_head(path).lstrip()
        if head.startswith("["):
            return read_coco_results(path, gt, match=match)
    return read_vector_predictions(path, gt, raster=raster, layer=layer, match=match)


__all__ = [
    "GTObject",
    "GroundTruth",
    "ImageGrid",
    "MASK_SUFFIXES",
    "Prediction",
    "Predictions",
    "decode_coco_segmentation",
    "object_key",
    "rasterize_geometry",
    "read_coco_ground_truth",
    "read_coco_results",
    "read_ground_truth",
    "read_mask_folder",
    "read_predictions",
    "read_raster_grid",
    "read_vector_ground_truth",
    "read_vector_predictions",
]
