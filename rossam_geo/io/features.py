"""Writing features to a GeoPackage layer in place, one SQLite transaction per write, as GDAL's tools do.

A GeoPackage is an SQLite database, and GDAL appends every write's rows inside one transaction: a process
killed during a write leaves the file as it was before that write (SQLite rolls the interrupted transaction
back from its journal the next time the file is opened for writing, see :func:`recover_geopackage`). Writes
therefore add rows to the file instead of copying it, and cost the same at the ten-thousandth feature as at
the first. Only a new file is written beside its destination and moved into place (:func:`os.replace`), so
that no half-made file ever carries the output's name.

``overwrite`` replaces the layer named, not the file, like ``ogr2ogr -overwrite``: the other layers of a
GeoPackage (often a user's whole project) are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyproj

from rossam_geo.errors import CRSError, InputError, OutputError, OutputExistsError, explain
from rossam_geo.io.atomic import folder_problem
from rossam_geo.io.layers import layer_names

if TYPE_CHECKING:
    import geopandas

__all__ = [
    "PIXEL_FRAME_DESCRIPTION",
    "WriteMode",
    "check_geopackage",
    "delete_features",
    "read_layer_metadata",
    "recover_geopackage",
    "write_features",
]

#: Description stored in the GeoPackage (``gpkg_contents.description``) of layers created without a CRS.
PIXEL_FRAME_DESCRIPTION = (
    "Pixel coordinates of the source image, no CRS: x to the right (columns), y down (rows); "
    "pixel (col, row) covers [col, col + 1) x [row, row + 1)."
)

WriteMode = Literal["create", "overwrite", "append"]


def _check_target(path: Path, layer: str) -> None:
    if path.suffix.lower() != ".gpkg":
        raise InputError(f"output {str(path)!r} must be a GeoPackage with the .gpkg extension")
    if not path.parent.is_dir():
        raise InputError(f"output folder {str(path.parent)!r} does not exist; create it first")
    if not isinstance(layer, str) or not layer.strip():
        raise InputError(f"output layer name must be a non-empty text, got {layer!r}; name the layer")


def recover_geopackage(path: str | Path) -> None:
    """Make a GeoPackage left by a killed writer whole again, and remove the temporary files of its writes.

    Opening the file for writing makes SQLite roll back an interrupted transaction (its hot journal
    ``NAME.gpkg-journal`` is then deleted); until that happens, read-only openers cannot read the file.
    Temporary files of a new file's first write (``.NAME.gpkg.*.tmp*``, files or folders, also of earlier
    versions, which copied the whole file for each write) are removed. Nothing happens when the file does not
    exist.

    Raises:
        InputError: the file is not an SQLite database (not a GeoPackage).
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    if not path.is_file():
        return
    journal = path.with_name(f"{path.name}-journal")
    try:
        connection = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        try:
            # Taking the lock rolls back a hot journal; holding it, a journal still there was cut before its
            # header was written (nothing to roll back) and is deleted.
            connection.execute("BEGIN EXCLUSIVE")
            journal.unlink(missing_ok=True)
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        raise InputError(
            f"{str(path)!r} cannot be opened for writing ({exc}); is another program writing to it?"
        ) from None
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"{str(path)!r} is not a readable GeoPackage ({exc}); choose another output"
        ) from None


def check_geopackage(path: str | Path, layer: str | None = None, fields: Sequence[str] = ()) -> None:
    """Refuse, before any work, an existing output that cannot take a run's features.

    The file is made whole first (:func:`recover_geopackage`), then its layers are listed; with ``layer`` and
    ``fields``, an existing ``layer`` must have every one of ``fields`` (a layer a run appends to). Nothing
    happens when the file does not exist.

    Raises:
        InputError: the file is not a GeoPackage, is damaged, or ``layer`` lacks one of ``fields``.
    """
    import pyogrio

    path = Path(path)
    if not path.exists():
        return
    recover_geopackage(path)
    try:
        names = layer_names(path)
        present = set(pyogrio.read_info(path, layer=layer)["fields"]) if layer in names and fields else None
    except Exception as exc:  # pyogrio raises DataSourceError and others, no common base
        raise InputError(
            f"{str(path)!r} is not a readable GeoPackage ({explain(exc, max_chars=160)}); choose another "
            "output"
        ) from None
    missing = [name for name in fields if present is not None and name not in present]
    if missing:
        raise InputError(
            f"layer {layer!r} of {str(path)!r} has no field {missing[0]!r}, so it was not written by "
            "rossam-geo; choose another --layer-name or output file, or replace the layer with --overwrite"
        )


def read_layer_metadata(path: str | Path, layer: str) -> dict[str, str]:
    """The metadata items of a layer (GDAL's default domain); empty without the file or the layer."""
    import pyogrio

    path = Path(path)
    if not path.is_file() or layer not in layer_names(path):
        return {}
    return dict(pyogrio.read_info(path, layer=layer).get("layer_metadata") or {})


def write_features(
    gdf: geopandas.GeoDataFrame,
    path: str | Path,
    *,
    layer: str,
    mode: WriteMode = "create",
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write features to a GeoPackage layer, in one transaction.

    Polygonal layers (masks, also when empty) are written as MultiPolygon so that appends keep one type.
    Features without a CRS (``gdf.crs`` None: plain image frames) are in pixel coordinates, x right and y
    down: the layer is written without a spatial reference system (GDAL's "undefined" one), the coordinate
    convention is stored as the layer's description (:data:`PIXEL_FRAME_DESCRIPTION`), and the writer's
    warning about the missing CRS is not raised, since no CRS is the intended content.

    Args:
        gdf: features to write (empty and missing geometries allowed), in ``gdf.crs``.
        path: the ``.gpkg`` file.
        layer: layer name.
        mode: ``"create"``: the file must not exist (it is made beside and moved into place);
            ``"overwrite"``: replace ``layer`` (made if missing, with the file), other layers untouched;
            ``"append"``: add the rows to ``layer`` (made if missing, with the file).
        metadata: items set in the layer's metadata (merged with the existing ones when appending).

    Raises:
        OutputExistsError: ``mode="create"`` and the file exists.
        InputError: a wrong mode, extension or layer name, a missing folder, rows that do not fit the
            existing layer.
        CRSError: appending features whose CRS differs from the existing layer's.
    """
    path = Path(path)
    if mode not in ("create", "overwrite", "append"):
        raise InputError(f"write mode must be 'create', 'overwrite' or 'append', got {mode!r}")
    _check_target(path, layer)
    if path.exists() and mode == "create":
        raise OutputExistsError(
            f"output {str(path)!r} exists; use --overwrite to replace its layer {layer!r} or --append to add "
            "to it"
        )
    if not path.exists():
        _write_new_file(gdf, path, layer, metadata)
        return
    recover_geopackage(path)
    layer_exists = layer in layer_names(path)
    appending = mode == "append" and layer_exists
    items = dict(metadata or {})
    if appending:
        import pyogrio

        info = pyogrio.read_info(path, layer=layer)
        _check_append_crs(info.get("crs"), gdf.crs, path, layer)
        if metadata is not None:
            items = {**(info.get("layer_metadata") or {}), **items}
    summary = _layer_summary(path, layer)
    try:
        _write(gdf, path, layer, append=appending, replace=layer_exists and not appending, metadata=items)
    except OutputError:
        _roll_back(path, layer, summary)
        raise


#: the rows of GeoPackage's own tables that describe a layer (extent, feature count); GDAL updates them in a
#: transaction of their own when it closes the file, even after the write itself failed.
_SUMMARY_TABLES = ("gpkg_contents", "gpkg_ogr_contents")


def _layer_summary(path: Path, layer: str) -> dict[str, list[tuple[object, ...]]]:
    """The rows of :data:`_SUMMARY_TABLES` of ``layer``, to restore after a failed write."""
    summary: dict[str, list[tuple[object, ...]]] = {}
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            for table in _SUMMARY_TABLES:
                rows = connection.execute(f"SELECT * FROM {table} WHERE table_name = ?", (layer,))
                summary[table] = rows.fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return {}
    return summary


def _roll_back(path: Path, layer: str, summary: dict[str, list[tuple[object, ...]]]) -> None:
    """After a failed write, leave the file as it was before it: roll back the write's transaction now
    (SQLite left its journal) and put back the layer's extent and feature count, which GDAL records apart."""
    try:
        recover_geopackage(path)
        if _layer_summary(path, layer) == summary:
            return
        connection = sqlite3.connect(path)
        try:
            with connection:
                for table, rows in summary.items():
                    connection.execute(f"DELETE FROM {table} WHERE table_name = ?", (layer,))
                    for row in rows:
                        marks = ", ".join("?" * len(row))
                        connection.execute(f"INSERT INTO {table} VALUES ({marks})", row)
        finally:
            connection.close()
    except (InputError, sqlite3.Error):
        pass  # the next run that opens the file rolls the write back; the summary stays as GDAL left it


def _write_new_file(
    gdf: geopandas.GeoDataFrame, path: Path, layer: str, metadata: Mapping[str, str] | None
) -> None:
    """Write a new file beside ``path`` and move it into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # GDAL makes the file itself
        _write(gdf, tmp, layer, append=False, replace=False, metadata=dict(metadata or {}), shown=path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write(
    gdf: geopandas.GeoDataFrame,
    path: Path,
    layer: str,
    *,
    append: bool,
    replace: bool,
    metadata: dict[str, str],
    shown: Path | None = None,
) -> None:
    import pyogrio

    geom_types = set(gdf.geometry.dropna().geom_type)
    polygonal = geom_types <= {"Polygon", "MultiPolygon"}
    layer_options: dict[str, str] = {}
    if gdf.crs is None and not append:
        layer_options["DESCRIPTION"] = PIXEL_FRAME_DESCRIPTION
    if replace:
        layer_options["OVERWRITE"] = "YES"
    try:
        with warnings.catch_warnings():
            if gdf.crs is None:
                warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
            pyogrio.write_dataframe(
                gdf,
                path,
                layer=layer,
                driver="GPKG",
                append=append,
                promote_to_multi=True if polygonal else None,
                geometry_type="MultiPolygon" if polygonal else None,
                layer_options=layer_options or None,
                layer_metadata=metadata or None,
            )
    except Exception as exc:  # pyogrio raises several unrelated error types
        raise _write_error(exc, shown or path, layer) from exc


def _write_error(exc: Exception, path: Path, layer: str) -> OutputError:
    """The error of a failed write: the folder's own problem when a probe finds one (a full disk, a
    read-only folder), else GDAL's message."""
    problem = folder_problem(path.parent)
    if problem is not None:
        return OutputError(f"cannot write layer {layer!r} to {str(path)!r}: {problem}")
    reason = _SQL_STATEMENT.sub("sqlite3_exec(...)", explain(exc, max_chars=1000))
    return OutputError(
        f"cannot write layer {layer!r} to {str(path)!r} ({reason[:160]}); check that the disk has free space "
        "and the file is not open elsewhere, then run again with --resume"
    )


#: the SQL statement GDAL quotes in its errors, left out of ours.
_SQL_STATEMENT = re.compile(r"sqlite3_exec\(.*?\)(?= failed)")


def delete_features(path: str | Path, layer: str, fids: Sequence[int]) -> None:
    """Delete features by id from a layer of a GeoPackage, in one transaction; ids not in it are ignored.

    GeoPackage keeps its spatial index up to date through SQL triggers on delete, so a plain ``DELETE`` on
    the SQLite database leaves a valid file.
    """
    import pyogrio

    ids = [(int(fid),) for fid in fids]
    if not ids:
        return
    path = Path(path)
    fid_column = pyogrio.read_info(path, layer=layer).get("fid_column") or "fid"
    table, column = (name.replace('"', '""') for name in (layer, fid_column))
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.executemany(f'DELETE FROM "{table}" WHERE "{column}" = ?', ids)
    except sqlite3.Error as exc:
        raise _write_error(exc, path, layer) from exc
    finally:
        connection.close()


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
