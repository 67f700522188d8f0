"""The resumable output of every run: one GeoPackage layer, appended in place, one transaction per chunk.

:class:`LayerSink` serves the three keyings of the product's outputs: a scene's prompts
(``source``, ``prompt_id``), whole scenes on Dask (``source``) and tracks (``frame``, ``track_id``). It checks
the output before any work (:class:`OutputTarget`), makes a GeoPackage left by a killed run whole again and
removes its temporary files, writes the first chunk with the run's mode (``overwrite`` replaces the layer
only) and appends the others, deletes the features a chunk replaces once the chunk is written, and keeps the
fingerprint of each prompt set with the layer, so that resuming with other prompts is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rossam_geo.errors import InputError, OptionError, OutputExistsError
from rossam_geo.io.atomic import folder_problem
from rossam_geo.segmentation.options import check_layer_name

if TYPE_CHECKING:
    import geopandas
    import pandas

__all__ = ["FINGERPRINT_KEY", "MODES", "LayerSink", "Mode", "OutputTarget"]

Mode = Literal["create", "overwrite", "append", "resume"]
#: write modes of a run's output.
MODES: tuple[str, ...] = ("create", "overwrite", "append", "resume")
#: the layer metadata item holding ``{group: fingerprint}`` of the prompt sets written to the layer.
FINGERPRINT_KEY = "rossam_geo_prompts"


@dataclass(frozen=True)
class OutputTarget:
    """Where a run writes: a layer of a GeoPackage, and how.

    Attributes:
        path: the ``.gpkg`` file.
        layer: its layer.
        mode: ``"create"`` (the file must not exist), ``"overwrite"`` (replace the layer only),
            ``"append"`` (add to the layer) or ``"resume"`` (finish an interrupted run into it).
    """

    path: Path
    layer: str
    mode: Mode = "create"

    def check(
        self,
        prompts_path: str | Path | None = None,
        prompt_layer: str | None = None,
        *,
        hint: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        """Refuse an output that cannot be written, before any work is done.

        Args:
            prompts_path, prompt_layer: the prompt file and the layer its prompts are read from; writing
                over that layer is refused.
            hint: what to do when the output exists in ``create`` mode (default: the segment command's
                options).
            fields: fields the run writes; an existing layer that the run appends to (or resumes) must have
                them.

        Raises:
            InputError: a wrong mode, extension or layer name, the prompts' own layer, an existing file that
                is not a readable GeoPackage, a layer to add to that lacks one of ``fields``, or a folder
                where no file can be created (read-only, full; an ``OptionError`` of ``output``).
            OutputExistsError: ``mode="create"`` and the file exists.
        """
        from rossam_geo import io

        if self.mode not in MODES:
            raise InputError(f"mode must be 'create', 'overwrite', 'append' or 'resume', got {self.mode!r}")
        check_layer_name(self.layer, "out_layer")
        path = Path(self.path)
        if path.suffix.lower() != ".gpkg":
            raise InputError(f"output {str(path)!r} must be a GeoPackage with the .gpkg extension")
        if (
            prompts_path is not None
            and prompt_layer is not None
            and path.exists()
            and Path(prompts_path).exists()
            and path.resolve() == Path(prompts_path).resolve()
            and prompt_layer == self.layer
        ):
            raise InputError(
                f"the output layer {self.layer!r} of {str(path)!r} is the layer the prompts are read from; "
                "choose another --layer-name or output file"
            )
        if self.mode == "create" and path.exists():
            hint = hint or (
                f"use --overwrite to replace its layer {self.layer!r}, --append to add to it or --resume to "
                "finish an interrupted run"
            )
            raise OutputExistsError(f"output {str(path)!r} exists; {hint}")
        io.check_geopackage(path, self.layer, fields if self.mode in ("append", "resume") else ())
        problem = folder_problem(path.parent)
        if problem is not None:
            raise OptionError("output", f"{str(path)!r}: cannot write into {str(path.parent)!r}: {problem}")


class LayerSink:
    """Writes a run's features to a GeoPackage layer in chunks, in place.

    Args:
        target: the output (checked by the caller with :meth:`OutputTarget.check`).
        every_seconds: longest time between writes while features are waiting, in seconds.
        every_features: number of waiting features that triggers a write.

    Attributes:
        writes: chunks written so far.
        features_written: features written so far.
        seconds: time spent writing.
    """

    def __init__(
        self, target: OutputTarget, *, every_seconds: float = 30.0, every_features: int = 1000
    ) -> None:
        from rossam_geo import io

        if every_seconds < 0 or every_features < 1:
            raise InputError(
                f"chunks need every_seconds >= 0 and every_features >= 1, got {every_seconds} and "
                f"{every_features}"
            )
        self.target = target
        self.every_seconds = float(every_seconds)
        self.every_features = int(every_features)
        self.writes = 0
        self.features_written = 0
        self.seconds = 0.0
        self._clock = time.monotonic
        self._last_write = self._clock()
        self._stale: list[int] = []
        self._metadata: dict[str, str] | None = None
        io.recover_geopackage(target.path)

    @property
    def resuming(self) -> bool:
        """Whether the run resumes an existing layer."""
        return self.target.mode == "resume" and self.layer_exists()

    def layer_exists(self) -> bool:
        """Whether the output layer exists."""
        from rossam_geo import io

        path = Path(self.target.path)
        return path.is_file() and self.target.layer in io.layer_names(path)

    def table(self, columns: Iterable[str]) -> pandas.DataFrame | None:
        """The layer's ``columns`` by feature id (None without the layer); refuses a foreign layer."""
        from rossam_geo import io

        return io.read_layer_table(self.target.path, self.target.layer, list(columns))

    def read(self, fids: Iterable[int]) -> geopandas.GeoDataFrame:
        """Features of the layer by id, in the order given."""
        from rossam_geo import io

        wanted = [int(f) for f in fids]
        frame = io.read_vector_layer(self.target.path, layer=self.target.layer, fids=wanted)
        return frame.loc[wanted]

    # ------------------------------------------------------------------------------------- fingerprints
    def fingerprints(self) -> dict[str, str]:
        """Group (scene, tracks...) -> fingerprint of the prompt set written to the layer."""
        from rossam_geo import io

        text = io.read_layer_metadata(self.target.path, self.target.layer).get(FINGERPRINT_KEY)
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def check_prompts(self, group: str, fingerprint: str, what: str) -> None:
        """Refuse to resume ``group`` with a prompt set other than the one its features were made from.

        Raises:
            InputError: the layer records another fingerprint for ``group``.
        """
        if not self.resuming:
            return
        stored = self.fingerprints().get(group)
        if stored is not None and stored != fingerprint:
            raise InputError(
                f"cannot resume layer {self.target.layer!r} of {str(self.target.path)!r}: {group!r} was made "
                f"from other {what}; resume with the same {what}, or start again with --overwrite"
            )

    def remember(self, fingerprints: Mapping[str, str]) -> None:
        """Store these group fingerprints with the next chunk."""
        known = {} if self.target.mode == "overwrite" and self.writes == 0 else self.fingerprints()
        known.update(fingerprints)
        self._metadata = {FINGERPRINT_KEY: json.dumps(known, sort_keys=True)}

    # ------------------------------------------------------------------------------------------ writing
    def drop_stale(self, fids: Iterable[int]) -> None:
        """Delete these features with the next chunk (older copies the run replaces)."""
        self._stale.extend(int(f) for f in fids)

    def due(self, waiting: int) -> bool:
        """True when ``waiting`` features (at least one) should be written now."""
        if waiting < 1:
            return False
        return waiting >= self.every_features or self._clock() - self._last_write >= self.every_seconds

    def write(self, features: geopandas.GeoDataFrame, replaces: Iterable[int] = ()) -> None:
        """Write one chunk (one transaction), then delete the features it ``replaces`` (another one).

        The first chunk uses the run's mode (``create``, ``overwrite`` of the layer), the others append. A
        process killed between the two transactions leaves older copies, which a resumed run deletes.
        """
        from rossam_geo import io

        started = time.perf_counter()
        first = self.writes == 0
        mode: io.WriteMode = "append"
        if first and self.target.mode in ("create", "overwrite"):
            mode = self.target.mode  # type: ignore[assignment]
        io.write_features(
            features, self.target.path, layer=self.target.layer, mode=mode, metadata=self._metadata
        )
        self._metadata = None
        dropped = [*self._stale, *(int(f) for f in replaces)]
        if dropped:
            io.delete_features(self.target.path, self.target.layer, dropped)
        self._stale = []
        self.writes += 1
        self.features_written += len(features)
        self._last_write = self._clock()
        self.seconds += time.perf_counter() - started

    def finish(self, empty: geopandas.GeoDataFrame) -> None:
        """After the run: when nothing was written and no layer was resumed or appended to, write ``empty``
        (no rows) so that the layer exists (replaced with ``overwrite``)."""
        if self.writes == 0 and (self.target.mode in ("create", "overwrite") or not self.layer_exists()):
            self.write(empty.iloc[:0])
        elif self._stale or self._metadata:
            self.write(empty.iloc[:0])
