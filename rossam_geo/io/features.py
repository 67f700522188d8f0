"""Writing features to GeoPackage layers atomically, at once or in chunks during a long run.

Every write goes to a temporary file in the destination folder, which then replaces the output with
:func:`os.replace`, so readers never see a half-written file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyproj

from rossam_geo.errors import CRSError, InputError, OutputExistsError
from rossam_geo.io.layers import layer_names

if TYPE_CHECKING:
    import geopandas

__all__ = ["PIXEL_FRAME_DESCRIPTION", "GeoPackageWriter", "write_features"]


#: Description stored in the GeoPackage (``gpkg_contents.description``) of layers created without a CRS.
PIXEL_FRAME_DESCRIPTION = (
    "Pixel coordinates of the source image, no CRS: x to the right (columns), y down (rows); "
    "pixel (col, row) covers [col, col + 1) x [row, row + 1)."
)


def write_features(
    gdf: geopandas.GeoDataFrame,
    path: str | Path,
    *,
    layer: str,
    mode: Literal["create", "overwrite", "append"] = "create",
    drop_fids: Sequence[int] = (),
) -> None:
    """Write features to a GeoPackage layer atomically.

    The data are written to a temporary file in the destination folder, which then replaces ``path`` with
    :func:`os.replace`; readers never see a half-written file and a failure (or a killed process) leaves the
    old file untouched. Appending therefore copies the existing file once per call. Polygonal layers (masks,
    also when empty) are written as MultiPolygon so that appends keep one type.

    Features without a CRS (``gdf.crs`` None: plain image frames) are in pixel coordinates, x right and y
    down. The layer is then written without a spatial reference system (GDAL's "undefined" one), the
    coordinate convention is stored as the layer's description (:data:`PIXEL_FRAME_DESCRIPTION`), and the
    writer's warning about the missing CRS is not raised, since no CRS is the intended content.

    Args:
        gdf: features to write (empty and missing geometries allowed), in ``gdf.crs``.
        path: the ``.gpkg`` file.
        layer: layer name.
        mode: ``"create"``: fail if the file exists; ``"overwrite"``: replace the whole file; ``"append"``:
            add the rows to ``layer`` (created if missing) of the existing file, keeping its other layers.
        drop_fids: with ``mode="append"``, feature ids of ``layer`` deleted in the same atomic write (the
            rows that the new features replace); ids not in the layer are ignored.

    Raises:
        OutputExistsError: ``mode="create"`` and the file exists.
        InputError: a wrong mode or extension, a missing folder, rows that do not fit the existing layer, or
            ``drop_fids`` without ``mode="append"``.
        CRSError: appending features whose CRS differs from the existing layer's.
    """
    import pyogrio

    path = Path(path)
    if mode not in ("create", "overwrite", "append"):
        raise InputError(f"write mode must be 'create', 'overwrite' or 'append', got {mode!r}")
    if path.suffix.lower() != ".gpkg":
        raise InputError(f"output {str(path)!r} must be a GeoPackage with the .gpkg extension")
    if not path.parent.is_dir():
        raise InputError(f"output folder {str(path.parent)!r} does not exist; create it first")
    if path.exists() and mode == "create":
        raise OutputExistsError(
            f"output {str(path)!r} exists; use --overwrite to replace it or --append to add to it"
        )
    drop = [int(fid) for fid in drop_fids]
    if drop and mode != "append":
        raise InputError(f"features can be replaced only when appending, not with write mode {mode!r}")
    appending = mode == "append" and path.exists()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        tmp_path = tmp_dir / path.name
        layer_exists = False
        if appending:
            shutil.copy2(path, tmp_path)
            layer_exists = layer in layer_names(tmp_path)
            if layer_exists:
                _check_append_crs(pyogrio.read_info(tmp_path, layer=layer).get("crs"), gdf.crs, path, layer)
                if drop:
                    _delete_features(tmp_path, layer, drop)
        geom_types = set(gdf.geometry.dropna().geom_type)
        polygonal = geom_types <= {"Polygon", "MultiPolygon"}
        layer_options = (
            {"DESCRIPTION": PIXEL_FRAME_DESCRIPTION} if gdf.crs is None and not layer_exists else None
        )
        try:
            with warnings.catch_warnings():
                if gdf.crs is None:
                    warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
                pyogrio.write_dataframe(
                    gdf,
                    tmp_path,
                    layer=layer,
                    driver="GPKG",
                    append=layer_exists,
                    promote_to_multi=True if polygonal else None,
                    geometry_type="MultiPolygon" if polygonal else None,
                    layer_options=layer_options,
                )
        except Exception as exc:  # pyogrio raises several unrelated error types
            raise InputError(f"cannot write layer {layer!r} to {str(path)!r}: {exc}") from exc
        os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _delete_features(gpkg_path: Path, layer: str, fids: Sequence[int]) -> None:
    """Delete rows by feature id from a layer of a GeoPackage (an SQLite database) that nobody else has open.

    GeoPackage keeps its spatial index and feature count up to date through SQL triggers on delete, so a plain
    ``DELETE`` leaves a valid file.
    """
    import sqlite3

    import pyogrio

    fid_column = pyogrio.read_info(gpkg_path, layer=layer).get("fid_column") or "fid"
    table, column = (name.replace('"', '""') for name in (layer, fid_column))
    connection = sqlite3.connect(gpkg_path)
    try:
        with connection:
            connection.executemany(f'DELETE FROM "{table}" WHERE "{column}" = ?', [(fid,) for fid in fids])
    finally:
        connection.close()


class GeoPackageWriter:
    """Writes the features of a long run to a GeoPackage layer in chunks, each chunk one atomic write.

    Every :meth:`write` goes through :func:`write_features` (temporary copy, then :func:`os.replace`), so a
    run killed at any moment leaves a valid file holding every chunk written before. The first write uses
    ``mode``; the following ones append. :meth:`due` tells a producer when the features it holds should be
    written: after ``every_seconds`` since the last write, or once ``every_features`` are waiting. Each write
    copies the file, so chunks are spaced out rather than written per feature.

    Args:
        path: the ``.gpkg`` file.
        layer: layer name.
        mode: write mode of the first chunk (see :func:`write_features`).
        every_seconds: longest time between writes while features are waiting, in seconds.
        every_features: number of waiting features that triggers a write.

    Attributes:
        writes: chunks written so far.
        features_written: features written so far.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        layer: str,
        mode: Literal["create", "overwrite", "append"] = "create",
        every_seconds: float = 30.0,
        every_features: int = 1000,
    ) -> None:
        if every_seconds < 0 or every_features < 1:
            raise InputError(
                f"chunks need every_seconds >= 0 and every_features >= 1, got {every_seconds} and "
                f"{every_features}"
            )
        self.path = Path(path)
        self.layer = layer
        self.mode = mode
        self.every_seconds = float(every_seconds)
        self.every_features = int(every_features)
        self.writes = 0
        self.features_written = 0
        self._clock = time.monotonic
        self._last_write = self._clock()

    def due(self, waiting: int) -> bool:
        """True when ``waiting`` features (at least one) should be written now."""
        if waiting < 1:
            return False
        return waiting >= self.every_features or self._clock() - self._last_write >= self.every_seconds

    def write(self, gdf: geopandas.GeoDataFrame, drop_fids: Sequence[int] = ()) -> None:
        """Write one chunk (see :func:`write_features`; ``drop_fids`` apply from the second chunk on, or
        with ``mode="append"``)."""
        mode = self.mode if self.writes == 0 else "append"
        write_features(gdf, self.path, layer=self.layer, mode=mode, drop_fids=drop_fids)
        self.writes += 1
        self.features_written += len(gdf)
        self._last_write = self._clock()


def _check_append_crs(existing: str | None, new: object, path: Path, layer: str) -> None:
    existing_crs = pyproj.CRS.from_user_input(existing) if existing else None
    new_crs = pyproj.CRS.from_user_input(new) if new is not None else None
    if (existing_crs is None) != (new_crs is None) or (
        existing_crs is not None
        and new_crs is not None
        and not existing_crs.equals(new_crs, ignore_axis_order=True)
    ):
        raise CRSError(
            f"cannot append features in {new_crs.name if new_crs else 'no CRS'} to layer {layer!r} of "
            f"{str(path)!r} in {existing_crs.name if existing_crs else 'no CRS'}; write them in the layer's "
            "CRS or to another layer or file"
        )
