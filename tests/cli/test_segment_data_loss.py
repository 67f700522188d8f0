"""``rossam-geo segment`` never loses a user's data: GeoPackage semantics as GDAL's tools have them.

Each test here is a case where an earlier version destroyed or mixed up data without a word: ``--overwrite``
deleted every other layer, ``-o`` onto the prompts' own layer deleted the prompts, an empty layer name wrote
a layer the tool did not name, ``--resume`` with other prompts reported them done, a killed write left a copy
of the output behind, and a resumed run put the redone prompts out of order.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import pyogrio
from click.testing import CliRunner

from rossam_geo.cli import main
from rossam_geo.io import write_features
from tests.cli.conftest import UTM_TRANSFORM
from tests.geo.fakes import make_vector_prompts

REPO = Path(__file__).resolve().parents[2]
BOXES_PX = [(8.0, 8.0, 32.0, 32.0), (58.0, 38.0, 92.0, 57.0), (40.0, 60.0, 70.0, 90.0)]


def _utm(boxes_px: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    out = []
    for x0, y0, x1, y1 in boxes_px:
        left, top = UTM_TRANSFORM @ (x0, y0)
        right, bottom = UTM_TRANSFORM @ (x1, y1)
        out.append((left, bottom, right, top))
    return out


def _segment(*args: str | Path):
    return CliRunner().invoke(main, ["segment", *map(str, args), "--engine", "box"])


def _layers(path: Path) -> list[str]:
    return sorted(str(n) for n in pyogrio.list_layers(path)[:, 0])


def test_overwrite_replaces_only_the_output_layer(tmp_path, scene):
    project = tmp_path / "project.gpkg"
    make_vector_prompts(project, _utm(BOXES_PX), layer="boxes", classes=["car", "ship", "car"])
    roads = gpd.GeoDataFrame({"name": ["A1", "B2"]}, geometry=gpd.points_from_xy([1, 2], [3, 4]), crs=32633)
    write_features(roads, project, layer="roads", mode="append")
    boxes_before = gpd.read_file(project, layer="boxes")
    roads_before = gpd.read_file(project, layer="roads")

    for _ in range(2):  # a new layer, then that layer replaced
        done = _segment(
            scene, project, "--prompt-layer", "boxes", "-o", project, "--layer-name", "results", "--overwrite"
        )
        assert done.exit_code == 0, done.output
    assert _layers(project) == ["boxes", "results", "roads"]
    assert gpd.read_file(project, layer="boxes").equals(boxes_before)
    assert gpd.read_file(project, layer="roads").equals(roads_before)
    assert len(gpd.read_file(project, layer="results")) == 3
    refused = _segment(scene, project, "--prompt-layer", "boxes", "-o", project, "--layer-name", "results")
    assert (
        refused.exit_code == 1 and "exists; use --overwrite to replace its layer 'results'" in refused.stderr
    )


def test_writing_over_the_prompts_own_layer_is_refused_and_the_file_unchanged(tmp_path, scene):
    prompts = make_vector_prompts(tmp_path / "boxes.gpkg", _utm(BOXES_PX), layer="boxes")
    before = prompts.read_bytes()
    for flag in ("--overwrite", "--append", "--resume"):
        refused = _segment(scene, prompts, "-o", prompts, "--layer-name", "boxes", flag)
        assert refused.exit_code == 1, refused.output
        assert "the output layer 'boxes' of" in refused.stderr
        assert "is the layer the prompts are read from; choose another --layer-name" in refused.stderr
        assert prompts.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "scene.tif") == ["boxes.gpkg"]


def test_an_empty_layer_name_is_refused(tmp_path, scene):
    prompts = make_vector_prompts(tmp_path / "boxes.gpkg", _utm(BOXES_PX))
    out = tmp_path / "out.gpkg"
    refused = _segment(scene, prompts, "-o", out, "--layer-name", "")
    assert refused.exit_code == 1 and "--layer-name must be a non-empty name, got ''" in refused.stderr
    assert not out.exists()


def test_resume_with_other_prompts_is_refused(tmp_path, scene):
    prompts = make_vector_prompts(tmp_path / "boxes.gpkg", _utm(BOXES_PX))
    other = make_vector_prompts(tmp_path / "other.gpkg", _utm([(1.0, 1.0, 9.0, 9.0), (20.0, 20, 40, 40)]))
    out = tmp_path / "out.gpkg"
    assert _segment(scene, prompts, "-o", out).exit_code == 0
    before = out.read_bytes()
    refused = _segment(scene, other, "-o", out, "--resume")
    assert refused.exit_code == 1, refused.output
    assert "'scene.tif' was made from other prompts; resume with the same prompts" in refused.stderr
    assert out.read_bytes() == before
    again = _segment(scene, prompts, "-o", out, "--resume")
    assert again.exit_code == 0 and "3 boxes were already in the output" in again.stderr


#: runs the segment command and is killed inside its first write (after the rows are written, before the
#: write completes); the next run must leave no temporary file behind.
KILLED_INSIDE_A_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import pyogrio
    from rossam_geo.cli import main

    original = pyogrio.write_dataframe

    def write_then_die(*args, **kwargs):
        original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    pyogrio.write_dataframe = write_then_die
    main(["segment", *sys.argv[1:], "--engine", "box", "-q"])
    """
)


def test_after_a_kill_inside_a_write_the_next_run_leaves_no_temporary_files(tmp_path, scene):
    prompts = make_vector_prompts(tmp_path / "boxes.gpkg", _utm(BOXES_PX))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "objects.gpkg"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_INSIDE_A_WRITE, str(scene), str(prompts), "-o", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [p.name for p in out_dir.iterdir() if p.name != "objects.gpkg"]  # the write cut short left these
    resumed = _segment(scene, prompts, "-o", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["objects.gpkg"]
    assert gpd.read_file(out, layer="objects")["prompt_id"].tolist() == [1, 2, 3]


def test_a_resumed_run_keeps_prompt_order(tmp_path, scene):
    prompts = make_vector_prompts(tmp_path / "boxes.gpkg", _utm([*BOXES_PX, (95.0, 5.0, 115.0, 25.0)]))
    full = tmp_path / "full.gpkg"
    assert _segment(scene, prompts, "-o", full).exit_code == 0
    partial = gpd.read_file(full, layer="objects").iloc[:3].copy()  # killed after 3 features...
    partial.loc[0, ["status", "reason"]] = ["failed", "engine error: RuntimeError: out of memory"]
    out = tmp_path / "out.gpkg"
    write_features(partial, out, layer="objects")  # ...whose first one failed
    resumed = _segment(scene, prompts, "-o", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    back = pyogrio.read_dataframe(out, layer="objects", fid_as_index=True)
    assert back["prompt_id"].tolist() == [1, 2, 3, 4]  # in feature-id order, as readers list them
    assert back["status"].tolist() == ["ok"] * 4
    expected = gpd.read_file(full, layer="objects")
    assert all(a.equals(b) for a, b in zip(back.geometry, expected.geometry, strict=True))
