"""Reading vector layers: whole layers as GeoDataFrames, or a few attributes of every feature."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rossam_geo.errors import InputError

if TYPE_CHECKING:
    import geopandas
    import pandas

__all__ = ["layer_names", "read_layer_attributes", "read_layer_table", "read_vector_layer"]


def layer_names(path: str | Path) -> list[str]:
    """Names of the layers of a vector file, in file order.

    Raises:
        pyogrio.errors.DataSourceError: the file is missing or not a vector file (callers word the error).
    """
    import pyogrio

    return [str(n) for n in pyogrio.list_layers(path)[:, 0]]


def read_vector_layer(
    path: str | Path, *, layer: str | None = None, fids: Sequence[int] | None = None
) -> geopandas.GeoDataFrame:
    """Every feature of one layer of a vector file (GeoPackage, GeoJSON, Shapefile, FlatGeobuf...).

    Args:
        path: the vector file.
        layer: layer name; None for the first (or only) layer.
        fids: read only the features with these ids (None: all).

    Returns:
        A GeoDataFrame in the file's CRS (``crs`` None when it has none), indexed by feature id (fid).

    Raises:
        InputError: the file does not exist or cannot be read as a vector file.
    """
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}; check the path")
    try:
        if fids is not None:
            return pyogrio.read_dataframe(path, layer=layer, fids=list(fids), fid_as_index=True)
        return pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise InputError(
            f"cannot read {path} as a vector file ({exc}); give a GeoPackage, GeoJSON or Shapefile"
        ) from None


def read_layer_attributes(path: str | Path, layer: str, columns: Sequence[str]) -> pandas.DataFrame | None:
    """The attributes ``columns`` of every feature of a layer, without geometries.

    Args:
        path: the vector file (usually a ``.gpkg``).
        layer: layer name.
        columns: attribute names to read; those the layer lacks are left out of the result.

    Returns:
        A pandas DataFrame indexed by feature id (fid) with the columns of ``columns`` that the layer has, in
        the layer's field order, or None when the file or the layer does not exist.

    Raises:
        InputError: the file cannot be read.
    """
    import pyogrio

    path = Path(path)
    if not path.exists():
        return None
    try:
        if layer not in layer_names(path):
            return None
        fields = {str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]}
        return pyogrio.read_dataframe(
            path,
            layer=layer,
            columns=[c for c in columns if c in fields],
            read_geometry=False,
            fid_as_index=True,
        )
    except Exception as exc:  # pyogrio raises DataSourceError and others, no common base
        raise InputError(f"cannot read layer {layer!r} of {str(path)!r}: {exc}") from exc


def read_layer_table(path: str | Path, layer: str, columns: Sequence[str]) -> pandas.DataFrame | None:
    """The attributes ``columns`` of every feature of a layer written by ``rossam-geo segment``.

    Args:
        path: the ``.gpkg`` file.
        layer: layer name.
        columns: attribute names to read.

    Returns:
        A pandas DataFrame indexed by feature id (fid) with ``columns``, or None when the file or the layer
        does not exist.

    Raises:
        InputError: the file cannot be read or the layer lacks one of ``columns``.
    """
    table = read_layer_attributes(path, layer, columns)
    if table is None:
        return None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"layer {layer!r} of {str(Path(path))!r} has no field {missing[0]!r}, so it was not written by "
            "rossam-geo segment; choose another output or layer, or use --overwrite"
        )
    return table
