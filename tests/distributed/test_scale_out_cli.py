from __future__ import annotations

import io

import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner
from rich.console import Console

from rossam_geo.cli import main
from rossam_geo.distributed import expand_scenes, segment_command
from rossam_geo.errors import InputError
from tests.geo.fakes import make_geotiff


def test_tracks_cli_on_a_local_cluster_equals_the_local_cli(sequence, tmp_path):
    frames, mot, _ = sequence
    runner = CliRunner()
    common = [str(frames), str(mot), "--engine", "box", "--chunk-frames", "3", "--class", "vehicle"]
    local = runner.invoke(main, ["tracks", *common, "-o", str(tmp_path / "local.gpkg")])
    dask = runner.invoke(
        main, ["tracks", *common, "-o", str(tmp_path / "dask.gpkg"), "--scheduler", "local:2"]
    )
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    assert "wrote 20 features (20 ok) in 4 chunks" in " ".join(dask.output.split())
    a, b = (
        pyogrio.read_dataframe(tmp_path / f"{name}.gpkg")
        .sort_values(["frame", "track_id"])
        .reset_index(drop=True)
        for name in ("local", "dask")
    )
    columns = ["frame", "track_id", "class", "area", "status", "box_cx", "box_cy", "source"]
    assert a[columns].equals(b[columns])
    assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry, strict=True))


def test_bad_scheduler_is_a_clean_error(sequence, tmp_path):
    frames, mot, _ = sequence
    result = CliRunner().invoke(
        main, ["tracks", str(frames), str(mot), "-o", str(tmp_path / "x.gpkg"), "--scheduler", "local:zero"]
    )
    assert (
        result.exit_code == 1
        and "--scheduler 'local:zero' needs a worker count of 1 or more" in result.output
    )


def test_expand_scenes_from_files_folders_globs_and_lists(tmp_path):
    paths = [make_geotiff(tmp_path / name) for name in ("s10.tif", "s2.tif", "s1.tif")]
    (tmp_path / "notes.txt").write_text("x")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{paths[0]}\n\n{paths[1]}\n")
    assert expand_scenes([str(tmp_path)]) == [str(tmp_path / n) for n in ("s1.tif", "s2.tif", "s10.tif")]
    assert expand_scenes([str(tmp_path / "s1*.tif")]) == [str(tmp_path / "s1.tif"), str(tmp_path / "s10.tif")]
    assert expand_scenes([f"@{listing}", str(paths[0])]) == [str(paths[0]), str(paths[1])]
    with pytest.raises(InputError, match="matches no scene"):
        expand_scenes([str(tmp_path / "none*.tif")])


def test_segment_command_summarizes_a_folder_of_scenes(client, tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for k in range(3):
        make_geotiff(folder / f"s{k}.tif", data=np.full((3, 30, 40), 60, dtype=np.uint8))
    csv = tmp_path / "b.csv"
    csv.write_text("xmin,ymin,xmax,ymax\n1,1,9,9\n100,100,120,120\n")
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    result = segment_command(
        [str(folder)],
        str(csv),
        str(tmp_path / "o.gpkg"),
        scheduler=client.scheduler.address,
        mode="create",
        out_layer="objects",
        console=console,
        engine="box",
        pixel=True,
    )
    assert len(result.scenes_done) == 3 and result.status_counts == {"ok": 3, "skipped": 3}
    assert (
        "3 of 3 scenes written" in buffer.getvalue() and "(6 features: 3 ok, 3 skipped)" in buffer.getvalue()
    )
    assert len(pyogrio.read_dataframe(tmp_path / "o.gpkg", layer="objects")) == 6


def test_segment_cli_runs_a_folder_of_scenes_on_a_local_cluster(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for k in range(3):
        make_geotiff(folder / f"s{k}.tif", data=np.full((3, 30, 40), 60, dtype=np.uint8))
    csv = tmp_path / "b.csv"
    csv.write_text("xmin,ymin,xmax,ymax\n1,1,9,9\n")
    runner = CliRunner()
    args = ["segment", str(folder), str(csv), "--pixel", "--engine", "box"]
    many = runner.invoke(main, [*args, "-o", str(tmp_path / "many.gpkg"), "--scheduler", "local:2"])
    assert many.exit_code == 0, many.output
    assert "3 of 3 scenes written" in " ".join(many.output.split())
    gdf = pyogrio.read_dataframe(tmp_path / "many.gpkg", layer="objects")
    assert sorted(gdf["source"]) == ["s0.tif", "s1.tif", "s2.tif"] and set(gdf["status"]) == {"ok"}
    # without a scheduler the command still takes one scene
    one = runner.invoke(
        main, ["segment", str(folder / "s1.tif"), *args[2:], "-o", str(tmp_path / "one.gpkg")]
    )
    assert one.exit_code == 0, one.output
    single = pyogrio.read_dataframe(tmp_path / "one.gpkg")
    assert single.geometry[0].equals(gdf[gdf["source"] == "s1.tif"].geometry.iloc[0])
