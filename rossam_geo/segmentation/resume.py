"""What a resumed scene run does with the features already in its output layer.

The layer's features are matched to the scene's prompts by ``source`` (the scene's file name) and
``prompt_id``. Every prompt keeps exactly one feature, and a scene's features stay in prompt order (in feature
id order, which is the order GeoPackage readers give): the features before the first prompt without a
finished feature stay where they are; after it, finished features are written again in their prompt's place
among the new ones ("carried") and the old copies deleted once the new copy is written, so a run killed at
any moment loses nothing and leaves at most older copies behind, which the next plan deletes (the copy with
the largest feature id wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rossam_geo.errors import InputError
from rossam_geo.segmentation.prompts import prompt_key

__all__ = ["RESUME_FIELDS", "ResumePlan", "check_resumable", "plan_resume"]

#: output fields a resumed run reads: what is done (per scene and prompt) and what made it.
RESUME_FIELDS = ("prompt_id", "source", "status", "engine", "model")


def check_resumable(
    table: Any, output: str | Path, out_layer: str, engine_name: str, model_name: str | None = None
) -> None:
    """Refuse to resume an output layer made by another engine or model.

    Args:
        table: the layer's :data:`RESUME_FIELDS` (:func:`rossam_geo.io.read_layer_table`).
        output, out_layer: the GeoPackage and its layer, for the message.
        engine_name, model_name: the engine of the resumed run and its model (None: compare engines only).

    Raises:
        InputError: a feature of the layer records another engine or model.
    """
    for engine, model in sorted(
        {(str(e), str(m)) for e, m in zip(table["engine"], table["model"], strict=True)}
    ):
        if engine != engine_name or (model_name is not None and model != model_name):
            current = engine_name if model_name is None else f"{engine_name} (model {model_name!r})"
            raise InputError(
                f"cannot resume layer {out_layer!r} of {str(output)!r}: it was made with engine {engine} "
                f"(model {model!r}), this run uses engine {current}; resume with the same engine and "
                "weights, or start again with --overwrite"
            )


@dataclass
class ResumePlan:
    """The work of a resumed scene run.

    Attributes:
        todo: positions (indexes into the prompts) to segment, in prompt order.
        carried: position -> feature id of a finished feature written again in its place.
        replaced: position -> feature ids deleted once the position's new feature is written.
        stale: feature ids of older copies, deleted at the first write.
        kept: finished features left where they are.
    """

    todo: list[int]
    carried: dict[int, int] = field(default_factory=dict)
    replaced: dict[int, list[int]] = field(default_factory=dict)
    stale: list[int] = field(default_factory=list)
    kept: int = 0

    @property
    def already_done(self) -> int:
        """Prompts found finished, not segmented again."""
        return self.kept + len(self.carried)


def plan_resume(table: Any, scene_name: str, prompt_ids: Sequence[Any]) -> ResumePlan:
    """Plan a resumed run of one scene (see the module docstring).

    Args:
        table: the layer's :data:`RESUME_FIELDS`, indexed by feature id (None: no layer, all to do).
        scene_name: the scene's file name (the ``source`` field of its features).
        prompt_ids: the scene's prompt ids, in prompt order.
    """
    if table is None:
        return ResumePlan(todo=list(range(len(prompt_ids))))
    rows = table[table["source"].astype(str) == scene_name]
    copies: dict[str, list[tuple[int, str]]] = {}
    for fid, prompt_id, status in sorted(zip(rows.index, rows["prompt_id"], rows["status"], strict=True)):
        copies.setdefault(prompt_key(prompt_id), []).append((int(fid), str(status)))
    plan = ResumePlan(todo=[])
    for key, found in copies.items():
        plan.stale.extend(fid for fid, _ in found[:-1])
        copies[key] = found[-1:]
    in_place = True
    previous = 0
    for position, prompt_id in enumerate(prompt_ids):
        latest = copies.get(prompt_key(prompt_id), [])
        fid, status = latest[0] if latest else (None, "")
        finished = fid is not None and status != "failed"
        if in_place and finished and fid is not None and fid > previous:
            plan.kept += 1
            previous = fid
            continue
        in_place = False
        if finished and fid is not None:
            plan.carried[position] = fid
        else:
            plan.todo.append(position)
        if fid is not None:
            plan.replaced[position] = [fid]
    return plan
