"""A scene run's output layer: the prompts still to segment, and their features written in prompt order.

:func:`open_scene_output` checks a resumed layer (same engine and model, same prompts) and plans the run
(:func:`rossam_geo.segmentation.resume.plan_resume`); :class:`SceneOutput` takes the run's chunks and writes
them, with the finished features that a resumed run carries, each in its prompt's place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rossam_geo.segmentation.prompts import prompt_fingerprint, prompt_key
from rossam_geo.segmentation.resume import RESUME_FIELDS, ResumePlan, check_resumable, plan_resume
from rossam_geo.segmentation.sink import LayerSink

if TYPE_CHECKING:
    import geopandas

    from rossam_geo.engines import Engine
    from rossam_geo.io import PromptSet

__all__ = ["SceneOutput", "open_scene_output"]


class SceneOutput:
    """Writes the features of one scene run through a :class:`LayerSink`, in prompt order.

    Args:
        sink: the output layer.
        plan: what the run does (all prompts to do, unless resumed).
        prompt_ids: all the scene's prompt ids, in prompt order.
    """

    def __init__(self, sink: LayerSink, plan: ResumePlan, prompt_ids: Sequence[Any]) -> None:
        self.sink = sink
        self.plan = plan
        self._position = {prompt_key(p): i for i, p in enumerate(prompt_ids)}
        self._carried = sorted(plan.carried)  # positions still to write again

    @property
    def todo(self) -> list[int]:
        """Positions of the prompts to segment, in order."""
        return self.plan.todo

    @property
    def already_done(self) -> int:
        """Prompts found finished in the output, not segmented again."""
        return self.plan.already_done

    def due(self, waiting: int) -> bool:
        """True when ``waiting`` features should be written now."""
        return self.sink.due(waiting)

    def write(self, features: geopandas.GeoDataFrame) -> None:
        """Write a chunk of new features, after the carried features of the prompts before them."""
        positions = [self._position[prompt_key(p)] for p in features["prompt_id"]]
        upto = max(positions, default=-1)
        self._write(features, positions, [p for p in self._carried if p < upto])

    def finish(self, empty: geopandas.GeoDataFrame) -> None:
        """After the run: write the carried features still waiting, and make sure the layer exists."""
        if self._carried:
            self._write(empty.iloc[:0], [], list(self._carried))
        self.sink.finish(empty)

    def _write(self, features: geopandas.GeoDataFrame, positions: list[int], carried: list[int]) -> None:
        import geopandas as gpd
        import pandas as pd

        frame = features
        if carried:
            old = self.sink.read(self.plan.carried[p] for p in carried)
            old = old.reset_index(drop=True).reindex(columns=list(features.columns))
            old = gpd.GeoDataFrame(old, geometry=features.geometry.name, crs=features.crs)
            merged = pd.concat([old, features.reset_index(drop=True)], ignore_index=True)
            where = [*carried, *positions]
            order = sorted(range(len(merged)), key=where.__getitem__)
            frame = gpd.GeoDataFrame(merged.iloc[order].reset_index(drop=True), crs=features.crs)
        replaces = [fid for p in (*carried, *positions) for fid in self.plan.replaced.pop(p, [])]
        self.sink.write(frame, replaces)
        written = set(carried)
        self._carried = [p for p in self._carried if p not in written]


def open_scene_output(sink: LayerSink, prompts: PromptSet, scene_name: str, engine: Engine) -> SceneOutput:
    """Plan a scene run into ``sink``'s layer; with ``resume``, only the prompts without a finished feature.

    The fingerprint of ``prompts`` is stored with the layer's first write, under the scene's name.

    Raises:
        InputError: resuming a layer made by another engine or model, from other prompts, or not written by
            rossam_geo.
    """
    fingerprint = prompt_fingerprint(prompts)
    plan = ResumePlan(todo=list(range(len(prompts.ids))))
    if sink.resuming:
        table = sink.table(RESUME_FIELDS)
        check_resumable(table, sink.target.path, sink.target.layer, engine.name, engine.model_name)
        sink.check_prompts(scene_name, fingerprint, "prompts")
        plan = plan_resume(table, scene_name, prompts.ids)
        sink.drop_stale(plan.stale)
    sink.remember({scene_name: fingerprint})
    return SceneOutput(sink, plan, prompts.ids)
