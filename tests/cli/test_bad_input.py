"""Bad and odd input to the real CLI, one table row per case, each run as a subprocess.

Every row asserts: the exit code; a message found in the output; for errors, at most :data:`MAX_LINES`
non-empty lines and no traceback; and that every file present before the run (inputs and existing outputs)
is unchanged and no file appears that the row does not expect. Files are built per row by name
(:mod:`tests.cli.bad_inputs`), in the row's own temporary folder, which is the working folder of the run.

To add a case, add a :class:`Case` to :data:`CASES` (and, for a new kind of file, a builder).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.bad_inputs import PWNED, Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]
#: an error is reported in this many non-empty lines at most (click's usage errors take three).
MAX_LINES = 3
TIMEOUT_S = 120


@dataclass(frozen=True)
class Case:
    """One row: a command line and what it must do.

    Attributes:
        name: the row's test id.
        argv: arguments after ``rossam-geo``; tokens naming a registered file are built first.
        exit_code: the expected exit status.
        message: a regular expression that must occur in stdout + stderr.
        creates: files the run may create (relative to the row's folder); for successes, those it must.
        max_lines: most non-empty output lines (None: not checked, for successful runs with a summary).
        given: files built before the run besides those ``argv`` names (existing outputs).
        check: extra assertions on the row's folder after the run.
    """

    name: str
    argv: tuple[str, ...]
    exit_code: int
    message: str
    creates: tuple[str, ...] = ()
    max_lines: int | None = MAX_LINES
    given: tuple[str, ...] = ()
    check: Callable[[Path], None] | None = None


def _default_mode(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def _preview_is_a_png_with_the_default_mode(root: Path) -> None:
    png = root / "preview.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _default_mode(png)


def _evaluation_files_have_the_default_mode(root: Path) -> None:
    for name in ("evaluation.json", "evaluation.md"):
        _default_mode(root / "eval" / name)


BOX = ("--engine", "box")
EVAL_OUTPUTS = tuple(
    f"eval/{n}" for n in ("evaluation.json", "evaluation.md", "iou_histogram.png", "iou_vs_area.png")
)

CASES = [
    # ------------------------------------------------------------------ rasters (handled well already)
    Case(
        "segment-missing-raster",
        ("segment", "missing.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        2,
        r"Error: Invalid value for 'SCENE': Path 'missing.tif' does not exist",
    ),
    Case(
        "segment-renamed-raster",
        ("segment", "renamed.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot open raster 'renamed.tif' .*; use a format GDAL reads",
    ),
    Case(
        "segment-empty-raster",
        ("segment", "empty.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot open raster 'empty.tif'",
    ),
    Case(
        "segment-truncated-header",
        ("segment", "truncated_header.tif", "boxes.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot open raster 'truncated_header.tif' \(.*IO error",
    ),
    # ------------------------------------------------------------------ prompts (handled well already)
    Case(
        "segment-missing-prompts",
        ("segment", "scene.tif", "nothing.geojson", "-o", "out.gpkg", *BOX),
        2,
        r"Error: Invalid value for 'PROMPTS': File 'nothing.geojson' does not exist",
    ),
    Case(
        "segment-unknown-prompt-format",
        ("segment", "scene.tif", "prompts.txt", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: unsupported prompt format '.txt' for 'prompts.txt'",
    ),
    Case(
        "segment-csv-without-crs",
        ("segment", "scene.tif", "pixel_boxes.csv", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: CSV prompt file 'pixel_boxes.csv' has no CRS; pass --prompts-crs .* or --pixel",
    ),
    Case(
        "segment-csv-odd-rows-skip-only-those",
        ("segment", "scene.tif", "odd_rows.csv", "--pixel", "-o", "out.gpkg", *BOX),
        0,
        r"4 boxes: 2 ok, 2 skipped, 0 failed",
        creates=("out.gpkg",),
        max_lines=None,
    ),
    Case(
        "segment-coco-odd-annotations-skip-only-those",
        ("segment", "scene.tif", "odd_coco.json", "-o", "out.gpkg", *BOX),
        0,
        r"boxes: 2 ok",
        creates=("out.gpkg",),
        max_lines=None,
    ),
    Case(
        "segment-existing-output-needs-overwrite",
        ("segment", "scene.tif", "boxes.geojson", "-o", "existing.gpkg", *BOX),
        1,
        r"existing.gpkg.*--overwrite",
    ),
    # ------------------------------------------------------------------ weights at load
    Case(
        "segment-pickle-checkpoint-refused-never-run",
        (
            "segment",
            "scene.tif",
            "boxes.geojson",
            "-o",
            "out.gpkg",
            "--engine",
            "sam",
            "--weights",
            "evil.pth",
        ),
        1,
        r"^Error: evil.pth is not a PyTorch checkpoint that loads with weights_only=True",
    ),
    Case(
        "segment-nan-weights-refused",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--weights", "nan.safetensors"),
        1,
        r"^Error: nan.safetensors holds NaN or infinite weights: tensor '[\w.]+' has \d+ of \d+ values",
    ),
    Case(
        "segment-wrong-shapes-short-message",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--weights", "wrong_shapes.safetensors"),
        1,
        r"^Error: wrong_shapes.safetensors has 61 tensor\(s\) of the wrong shape for the model \(tiny\): .*"
        r"; \+58 more; it was made for another architecture",
    ),
    # ------------------------------------------------------------------ preview
    Case(
        "segment-preview-respects-umask",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--preview", "preview.png", *BOX),
        0,
        r"2 boxes: 2 ok",
        creates=("out.gpkg", "preview.png"),
        max_lines=None,
        check=_preview_is_a_png_with_the_default_mode,
    ),
    Case(
        "segment-existing-preview-needs-overwrite",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--preview", "existing.png", *BOX),
        1,
        r"^Error: preview 'existing.png' exists; use --overwrite to replace it",
    ),
    # ------------------------------------------------------------------ weights command
    Case(
        "weights-fetch-url-not-a-url",
        ("weights", "fetch", "sam_vit_b", "--url", "notaurl", "--cache-dir", "cache"),
        1,
        r"^Error: --url 'notaurl' is not a download URL; give a full https://, http:// or file:// URL",
    ),
    Case(
        "weights-fetch-unknown-name",
        ("weights", "fetch", "sam_vit_x", "--cache-dir", "cache"),
        1,
        r"^Error: unknown weights 'sam_vit_x'; choose one of: sam_vit_b",
    ),
    Case(
        "weights-verify-missing-file",
        ("weights", "verify", "missing.pth", "--cache-dir", "cache"),
        1,
        r"missing.pth",
    ),
    # ------------------------------------------------------------------ tracks
    Case(
        "tracks-text-file-named-as-video",
        ("tracks", "notes.mp4", "mot.txt", "-o", "tracks.gpkg", *BOX),
        2,
        r"^error: 'notes.mp4' is a text file, not a video; pass a video file",
    ),
    Case(
        "tracks-undecodable-video",
        ("tracks", "noise.mp4", "mot.txt", "-o", "tracks.gpkg", *BOX),
        2,
        r"^error: cannot open 'noise.mp4' as a video; pass a video file",
    ),
    Case(
        "tracks-missing-frames",
        ("tracks", "missing.mp4", "mot.txt", "-o", "tracks.gpkg", *BOX),
        2,
        r"Error: Invalid value for 'FRAMES': Path 'missing.mp4' does not exist",
    ),
    # ------------------------------------------------------------------ evaluate
    Case(
        "evaluate-predictions-without-ids",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval"),
        1,
        r"^Error: predictions pred_without_ids.gpkg have no 'prompt_id' field, so they cannot be matched .*"
        r"--match position .* --match overlap",
    ),
    Case(
        "evaluate-predictions-without-ids-by-overlap",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval")
        + ("--match", "overlap"),
        0,
        r"\| all objects \| 2 \| 100.00 \|",
        creates=EVAL_OUTPUTS,
        max_lines=None,
        check=_evaluation_files_have_the_default_mode,
    ),
    Case(
        "evaluate-match-rule-on-a-mask-folder",
        ("evaluate", "masks", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval", "--match", "position"),
        1,
        r"^Error: mask folder masks is matched by file name \(<prompt_id>.png\); drop --match position",
    ),
    Case(
        "evaluate-unknown-match-rule",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--match", "nearest"),
        2,
        r"Invalid value for '--match': 'nearest' is not one of 'id', 'position', 'overlap'",
    ),
    Case(
        "evaluate-polygons-without-raster",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--out-dir", "eval"),
        1,
        r"^Error: ground truth gt.gpkg is not a COCO JSON, so it is read as polygons; pass --raster",
    ),
    Case(
        "evaluate-missing-predictions",
        ("evaluate", "nothing.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval"),
        1,
        r"^Error: predictions not found: nothing.gpkg; check the path",
    ),
    Case(
        "evaluate-out-dir-under-a-file",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "a_file/eval"),
        1,
        r"^Error: --out-dir: cannot write into 'a_file/eval': 'a_file' is a file, not a folder$",
        given=("a_file",),
    ),
    Case(
        "evaluate-out-dir-not-writable",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "/sys/eval"),
        1,
        r"^Error: --out-dir: cannot write into '/sys/eval': permission denied; choose another folder",
    ),
    Case(
        "evaluate-existing-outputs-need-overwrite",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval")
        + ("--match", "position"),
        1,
        r"output exists.*pass --overwrite",
        given=("eval/evaluation.json",),
    ),
    Case(
        "evaluate-negative-dilation-ratio",
        ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--dilation-ratio", "-1"),
        1,
        r"^Error: .*dilation",
    ),
]


def _run(root: Path, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "rossam_geo", *argv],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path):
    if case.argv[-1].startswith("/sys") and not Path("/sys").is_dir():
        pytest.skip("needs /sys, a folder nobody may create files in")
    workspace = Workspace(tmp_path)
    workspace.build_named_in([*case.argv, *case.given])
    before = workspace.hashes()

    done = _run(tmp_path, case.argv)

    output = done.stdout + done.stderr
    assert done.returncode == case.exit_code, output
    assert re.search(case.message, output, re.MULTILINE), output
    assert "Traceback" not in output
    if case.max_lines is not None:
        lines = [line for line in output.splitlines() if line.strip()]
        assert len(lines) <= case.max_lines, output
    after = workspace.hashes()
    assert {k: after.get(k) for k in before} == before  # inputs and existing outputs untouched
    assert set(after) - set(before) == set(case.creates)
    assert not (tmp_path / PWNED).exists()
    if case.check is not None:
        case.check(tmp_path)
