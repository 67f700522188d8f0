"""``rossam-geo segment --resume``: interrupted runs keep their features and finish without redoing them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from rossam_geo.api import Segmenter
from rossam_geo.cli import main
from rossam_geo.engines.box import BoxEngine
from rossam_geo.io import write_features
from tests.cli.conftest import UTM_TRANSFORM
from tests.geo.fakes import make_vector_prompts

#: prompt boxes in scene pixels (120 x 100 px scene); the third is off the raster (skipped, no engine call).
RESUME_BOXES_PX = [
    (8.0, 8.0, 32.0, 32.0),
    (58.0, 38.0, 92.0, 57.0),
    (500.0, 500.0, 520.0, 520.0),
    (40.0, 60.0, 70.0, 90.0),
    (95.0, 5.0, 115.0, 25.0),
    (2.0, 70.0, 20.0, 95.0),
]
#: prompts that reach the engine.
ENGINE_PROMPTS = 5


class Killed(BaseException):
    """Stands for the process being killed: nothing after it runs (unlike Ctrl-C)."""


@pytest.fixture
def utm_prompts(tmp_path: Path) -> Path:
    """:data:`RESUME_BOXES_PX` as EPSG:32633 rectangles in a GeoPackage (fids 1 to 6) with a class field."""
    boxes = []
    for x0, y0, x1, y1 in RESUME_BOXES_PX:
        left, top = UTM_TRANSFORM @ (x0, y0)
        right, bottom = UTM_TRANSFORM @ (x1, y1)
        boxes.append((left, bottom, right, top))
    classes = ["airplane", "ship", "car", "train", "ship", "car"]
    return make_vector_prompts(tmp_path / "boxes.gpkg", boxes, crs="EPSG:32633", classes=classes)


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """Counts the boxes the ``box`` engine predicts; set ``stop_at`` (call number) and ``error`` to fail."""
    state: dict[str, object] = {"calls": 0, "stop_at": None, "error": KeyboardInterrupt}
    original = BoxEngine.predict

    def counting(self: BoxEngine, images, boxes):  # type: ignore[no-untyped-def]
        state["calls"] = int(state["calls"]) + len(images)  # type: ignore[call-overload]
        if state["stop_at"] is not None and state["calls"] >= state["stop_at"]:  # type: ignore[operator]
            raise state["error"]()  # type: ignore[operator]
        return original(self, images, boxes)

    monkeypatch.setattr(BoxEngine, "predict", counting)
    yield state


def _segment(*args: str | Path):
    return CliRunner().invoke(main, ["segment", *map(str, args), "--engine", "box", "--batch-size", "1"])


def _by_prompt(path: Path) -> dict[int, tuple[str, shapely.Geometry]]:
    features = gpd.read_file(path, layer="objects")
    ids = features["prompt_id"].tolist()
    assert len(ids) == len(set(ids)), f"duplicate prompt ids in {path.name}: {ids}"
    return {
        int(p): (s, g)
        for p, s, g in zip(features["prompt_id"], features["status"], features.geometry, strict=True)
    }


def _same_features(a: Path, b: Path) -> None:
    first, second = _by_prompt(a), _by_prompt(b)
    assert sorted(first) == sorted(second)
    for prompt_id, (status, geom) in first.items():
        other_status, other_geom = second[prompt_id]
        assert status == other_status, prompt_id
        assert geom.is_empty == other_geom.is_empty and geom.equals(other_geom), prompt_id


def _full_run(tmp_path: Path, scene: Path, prompts: Path, engine_calls: dict[str, object]) -> Path:
    full = tmp_path / "full.gpkg"
    assert _segment(scene, prompts, "-o", full).exit_code == 0
    assert engine_calls["calls"] == ENGINE_PROMPTS
    engine_calls["calls"] = 0
    return full


def test_interrupted_run_then_resume_equals_one_run(tmp_path, scene, utm_prompts, engine_calls):
    full = _full_run(tmp_path, scene, utm_prompts, engine_calls)
    assert sorted(_by_prompt(full)) == [1, 2, 3, 4, 5, 6]

    out = tmp_path / "out.gpkg"
    engine_calls["stop_at"] = 3  # Ctrl-C while the 3rd engine box (prompt 4) runs
    interrupted = _segment(scene, utm_prompts, "-o", out)
    assert interrupted.exit_code == 1 and "Aborted" in interrupted.output
    assert sorted(_by_prompt(out)) == [1, 2]  # the features finished before Ctrl-C are written

    engine_calls.update(calls=0, stop_at=None)
    refused = _segment(scene, utm_prompts, "-o", out)
    assert refused.exit_code == 1 and "--resume to finish an interrupted run" in refused.stderr

    resumed = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert engine_calls["calls"] == ENGINE_PROMPTS - 2  # prompts 4, 5, 6; prompt 3 is skipped without a call
    assert "4 boxes: 3 ok, 1 skipped, 0 failed" in resumed.stderr
    assert "2 boxes were already in the output (resumed run)" in resumed.stderr
    _same_features(full, out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    engine_calls["calls"] = 0
    again = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert again.exit_code == 0 and engine_calls["calls"] == 0
    assert len(gpd.read_file(out, layer="objects")) == len(RESUME_BOXES_PX)


def test_partial_output_with_a_failed_feature_is_completed_and_the_failure_replaced(
    tmp_path, scene, utm_prompts, engine_calls
):
    full = _full_run(tmp_path, scene, utm_prompts, engine_calls)
    partial = gpd.read_file(full, layer="objects").iloc[:3].copy()  # a run killed after 3 features
    partial.loc[1, ["status", "reason"]] = ["failed", "engine error: RuntimeError: out of memory"]
    partial.loc[1, "geometry"] = shapely.MultiPolygon()
    out = tmp_path / "out.gpkg"
    write_features(partial, out, layer="objects")

    resumed = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert engine_calls["calls"] == 4  # prompt 2 again (it failed) and prompts 4, 5, 6
    _same_features(full, out)
    assert _by_prompt(out)[2][0] == "ok"


def test_resume_without_output_is_a_normal_run(tmp_path, scene, utm_prompts, engine_calls):
    full = _full_run(tmp_path, scene, utm_prompts, engine_calls)
    out = tmp_path / "new" / "out.gpkg"
    result = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert engine_calls["calls"] == ENGINE_PROMPTS and "already in the output" not in result.stderr
    _same_features(full, out)


def test_resume_keeps_other_scenes_of_the_output(tmp_path, scene, utm_prompts, engine_calls):
    full = _full_run(tmp_path, scene, utm_prompts, engine_calls)
    other = gpd.read_file(full, layer="objects").iloc[:2].assign(source="other.tif")
    other.loc[1, "status"] = "failed"
    out = tmp_path / "out.gpkg"
    write_features(other, out, layer="objects")

    result = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert engine_calls["calls"] == ENGINE_PROMPTS  # same prompt ids, another scene: all are segmented
    features = gpd.read_file(out, layer="objects")
    assert features["source"].tolist() == ["other.tif"] * 2 + ["scene.tif"] * len(RESUME_BOXES_PX)
    assert features["status"].tolist()[:2] == ["ok", "failed"]  # another scene's failure is not touched


def test_killed_run_keeps_the_chunks_written_before(tmp_path, scene, utm_prompts, engine_calls):
    out = tmp_path / "out.gpkg"
    segmenter = Segmenter("box", batch_size=1)
    engine_calls.update(stop_at=5, error=Killed)  # killed while prompt 5 (the 5th engine box) runs
    with pytest.raises(Killed):
        segmenter.segment_to_file(scene, utm_prompts, out, every_features=2)
    written = gpd.read_file(out, layer="objects")
    assert written["prompt_id"].tolist() == [1, 2, 3, 4]  # two chunks of two; the third never completed
    assert written["score"].dtype == "float64" and written["crop_size"].dtype == "int64"

    engine_calls.update(calls=0, stop_at=None)
    result = segmenter.segment_to_file(scene, utm_prompts, out, mode="resume", every_features=2)
    assert engine_calls["calls"] == 2 and result.already_done == 4
    assert result.features["prompt_id"].tolist() == [5, 6]
    assert gpd.read_file(out, layer="objects")["prompt_id"].tolist() == [1, 2, 3, 4, 5, 6]


def test_resume_with_another_engine_or_model_is_refused(tmp_path, scene, utm_prompts, engine_calls):
    out = tmp_path / "out.gpkg"
    assert _segment(scene, utm_prompts, "-o", out).exit_code == 0
    before = out.read_bytes()
    refused = CliRunner().invoke(
        main, ["segment", str(scene), str(utm_prompts), "-o", str(out), "--engine", "grabcut", "--resume"]
    )
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "it was made with engine box (model 'box'), this run uses engine grabcut" in refused.stderr
    assert "start again with --overwrite" in refused.stderr
    assert out.read_bytes() == before

    other_model = gpd.read_file(out, layer="objects").assign(model="vit_b_adapter.safetensors")
    write_features(other_model, out, layer="objects", mode="overwrite")
    engine_calls["calls"] = 0
    refused = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert refused.exit_code == 1 and engine_calls["calls"] == 0
    assert (
        "made with engine box (model 'vit_b_adapter.safetensors'), this run uses engine box (model 'box')"
        in (refused.stderr)
    )


def test_resume_with_overwrite_is_a_usage_error(tmp_path, scene, utm_prompts):
    out = tmp_path / "out.gpkg"
    result = _segment(scene, utm_prompts, "-o", out, "--resume", "--overwrite")
    assert result.exit_code == 2
    assert "use either --overwrite (start again) or --resume" in result.stderr
    assert not out.exists()


def test_resume_refuses_a_layer_not_written_by_segment(tmp_path, scene, utm_prompts):
    out = tmp_path / "out.gpkg"
    foreign = gpd.read_file(utm_prompts)
    write_features(foreign, out, layer="objects")
    result = _segment(scene, utm_prompts, "-o", out, "--resume")
    assert result.exit_code == 1
    assert "has no field 'prompt_id', so it was not written by rossam-geo;" in result.stderr


def test_scheduler_resume_checks_the_engine_before_starting_workers(tmp_path, scene, utm_prompts):
    out = tmp_path / "out.gpkg"
    assert _segment(scene, utm_prompts, "-o", out).exit_code == 0
    refused = CliRunner().invoke(
        main,
        ["segment", str(scene), str(utm_prompts), "-o", str(out), "--engine", "grabcut", "--resume"]
        + ["--scheduler", "local:1"],
    )
    assert refused.exit_code == 1
    assert "made with engine box (model 'box'), this run uses engine grabcut;" in refused.stderr
