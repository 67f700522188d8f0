"""Rows of the bad-input table for what ``rossam-geo segment`` reads besides the scene (prompts, weights) and
where it writes (outputs, previews, full disks, Dask schedulers, resumed runs); see
:mod:`tests.cli.test_bad_input`."""

from __future__ import annotations

from tests.cli.bad_input_rows_segment import (
    BOX,
    PIXEL_RUN,
    RUN,
    _preview_is_a_png_with_the_default_mode,
    _resumed_output_has_every_prompt_once,
)
from tests.cli.bad_input_table import Case

#: largest file a full-disk row may write, in bytes: less than a new GeoPackage needs.
LIMIT_BELOW_A_NEW_GEOPACKAGE = 40_000
#: a connection to a scheduler that does not answer gives up after this long.
QUICK_CONNECT = (("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s"),)

OUTPUT_CASES = [
    # ------------------------------------------------------------------ prompts
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
        "segment-csv-not-utf8",
        ("segment", "scene.tif", "latin1.csv", "--pixel", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: CSV prompt file 'latin1.csv' is not UTF-8 text \(byte 0xe9 at position \d+\); save it as "
        r"UTF-8$",
    ),
    Case(
        "segment-csv-without-box-columns",
        ("segment", "scene.tif", "no_box_columns.csv", "--pixel", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: box column 'xmin' not found; available columns: a, b, c$",
    ),
    Case(
        "segment-csv-with-a-header-only",
        ("segment", "scene.tif", "header_only.csv", "--pixel", "-o", "out.gpkg", *BOX),
        0,
        r"0 boxes: 0 ok, 0 skipped, 0 failed",
        creates=("out.gpkg",),
        max_lines=None,
    ),
    Case(
        "segment-binary-file-named-geojson",
        ("segment", "scene.tif", "binary.geojson", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot read prompt file 'binary.geojson': .*not recognized as being in a supported file "
        r"format",
    ),
    Case(
        "segment-broken-json",
        ("segment", "scene.tif", "broken.json", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: cannot read broken.json as JSON \(.*\); give a JSON prompt file \(COCO or GeoJSON\)$",
    ),
    Case(
        "segment-coco-without-the-scene",
        ("segment", "scene.tif", "other_image_coco.json", "-o", "out.gpkg", *BOX),
        1,
        r"^Error: no image named 'scene.tif' in COCO file 'other_image_coco.json' \(images: another.tif\)",
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
    Case(
        "segment-empty-weights-file",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--weights", "empty.safetensors"),
        1,
        r"^Error: .*empty.safetensors",
    ),
    Case(
        "segment-text-file-as-weights",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--weights", "text.safetensors"),
        1,
        r"^Error: .*text.safetensors",
    ),
    Case(
        "segment-missing-weights-file",
        ("segment", "scene.tif", "boxes.geojson", "-o", "out.gpkg", "--weights", "nowhere.safetensors"),
        1,
        r"^Error: .*nowhere.safetensors",
    ),
    # ------------------------------------------------------------------ existing outputs
    Case(
        "segment-existing-output-needs-overwrite",
        ("segment", "scene.tif", "boxes.geojson", "-o", "existing.gpkg", *BOX),
        1,
        r"^Error: output 'existing.gpkg' exists; use --overwrite to replace its layer 'objects', --append",
    ),
    Case(
        "segment-overwrite-and-append",
        (*RUN, "--overwrite", "--append"),
        2,
        r"use either --overwrite or --append, not both",
    ),
    Case(
        "segment-overwrite-and-resume",
        (*RUN, "--overwrite", "--resume"),
        2,
        r"use either --overwrite \(start again\) or --resume",
    ),
    Case(
        "segment-append-to-a-corrupt-geopackage",
        ("segment", "scene.tif", "boxes.geojson", "-o", "corrupt.gpkg", "--append", *BOX),
        1,
        r"^Error: 'corrupt.gpkg' is not a readable GeoPackage \(database disk image is malformed\); choose "
        r"another output$",
    ),
    Case(
        "segment-resume-a-corrupt-geopackage",
        ("segment", "scene.tif", "boxes.geojson", "-o", "corrupt.gpkg", "--resume", *BOX),
        1,
        r"^Error: 'corrupt.gpkg' is not a readable GeoPackage",
    ),
    Case(
        "segment-overwrite-a-layer-of-a-corrupt-geopackage",
        ("segment", "scene.tif", "boxes.geojson", "-o", "corrupt.gpkg", "--overwrite", *BOX),
        1,
        r"^Error: 'corrupt.gpkg' is not a readable GeoPackage",
    ),
    Case(
        "segment-append-to-a-text-file-named-gpkg",
        ("segment", "scene.tif", "boxes.geojson", "-o", "not_sqlite.gpkg", "--append", *BOX),
        1,
        r"^Error: 'not_sqlite.gpkg' is not a readable GeoPackage \(file is not a database\)",
    ),
    Case(
        "segment-append-to-a-layer-not-made-by-segment",
        ("segment", "scene.tif", "boxes.geojson", "-o", "existing.gpkg", "--append", *BOX),
        1,
        r"^Error: layer 'objects' of 'existing.gpkg' has no field 'prompt_id', so it was not written by "
        r"rossam-geo; choose another --layer-name",
    ),
    Case(
        "segment-resume-with-another-engine",
        ("segment", "scene.tif", "boxes.geojson", "-o", "made.gpkg", "--resume", "--engine", "grabcut"),
        1,
        r"^Error: cannot resume layer 'objects' of 'made.gpkg': it was made with engine box",
    ),
    Case(
        "segment-resume-with-other-prompts",
        ("segment", "scene.tif", "pixel_boxes.csv", "--pixel", "-o", "made.gpkg", "--resume", *BOX),
        1,
        r"'scene.tif' was made from other prompts; resume with the same prompts, or start again with "
        r"--overwrite$",
    ),
    Case(
        "segment-interrupted-run-resumes",
        ("segment", "scene.tif", "boxes.geojson", "-o", "interrupted.gpkg", "--resume", *BOX),
        0,
        r"1 boxes: 1 ok, 0 skipped, 0 failed\n1 boxes were already in the output \(resumed run\)",
        max_lines=None,
        changes=("interrupted.gpkg",),
        check=_resumed_output_has_every_prompt_once,
    ),
    Case(
        "segment-output-not-a-geopackage",
        (*RUN[:4], "out.shp", *BOX),
        1,
        r"^Error: output 'out.shp' must be a GeoPackage with the .gpkg extension$",
    ),
    Case(
        "segment-output-folder-under-a-file",
        (*RUN[:4], "a_file/out.gpkg", *BOX),
        1,
        r"^Error: -o 'a_file/out.gpkg': cannot write into 'a_file': 'a_file' is a file, not a folder$",
        given=("a_file",),
    ),
    Case(
        "segment-output-folder-not-writable",
        (*RUN[:4], "/sys/out.gpkg", *BOX),
        1,
        r"^Error: -o '/sys/out.gpkg': cannot write into '/sys': permission denied; choose another folder",
    ),
    # ------------------------------------------------------------------ full disks
    Case(
        "segment-disk-full-before-the-run",
        RUN,
        1,
        r"^Error: -o 'out.gpkg': cannot write into '\.': the disk is full \(or the quota is used up\); free "
        r"some space",
        disk_full=True,
    ),
    Case(
        "segment-disk-fills-while-writing-a-new-file",
        PIXEL_RUN,
        1,
        r"^Error: cannot write layer 'objects' to 'out.gpkg' \(.*\); check that the disk has free space",
        max_lines=2,  # the progress bar, then the error
        file_size_limit=LIMIT_BELOW_A_NEW_GEOPACKAGE,
    ),
    Case(
        "segment-disk-fills-while-appending",
        ("segment", "scene.tif", "many.csv", "--pixel", "-o", "made.gpkg", "--append", *BOX),
        1,
        r"^Error: cannot write layer 'objects' to 'made.gpkg' \(Failed to commit transaction\); check that "
        r"the disk has free space",
        max_lines=2,
        same_content=("made.gpkg",),
        file_size_limit="made.gpkg",  # its own size: it cannot grow
    ),
    # ------------------------------------------------------------------ preview
    Case(
        "segment-preview-respects-umask",
        (*RUN, "--preview", "preview.png"),
        0,
        r"2 boxes: 2 ok",
        creates=("out.gpkg", "preview.png"),
        max_lines=None,
        check=_preview_is_a_png_with_the_default_mode,
    ),
    Case(
        "segment-existing-preview-needs-overwrite",
        (*RUN, "--preview", "existing.png"),
        1,
        r"^Error: preview 'existing.png' exists; use --overwrite to replace it",
    ),
    Case(
        "segment-preview-folder-not-writable-before-any-work",
        (*RUN, "--preview", "/sys/preview.png"),
        1,
        r"^Error: --preview: cannot write into '/sys': permission denied",
    ),
    Case(
        "segment-preview-folder-under-a-file",
        (*RUN, "--preview", "a_file/preview.png"),
        1,
        r"^Error: --preview: cannot write into 'a_file': 'a_file' is a file, not a folder$",
        given=("a_file",),
    ),
    # ------------------------------------------------------------------ Dask schedulers
    Case(
        "segment-scheduler-garbage",
        (*RUN, "--scheduler", "garbage"),
        1,
        r"^Error: --scheduler 'garbage' is not a scheduler address; give local:N for N local workers",
    ),
    Case(
        "segment-scheduler-no-local-workers",
        (*RUN, "--scheduler", "local:0"),
        1,
        r"^Error: --scheduler 'local:0' needs a worker count of 1 or more",
    ),
    Case(
        "segment-scheduler-not-answering",
        (*RUN, "--scheduler", "tcp://127.0.0.1:9"),
        1,
        r"^Error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' \(.*\); start it, or check the "
        r"address$",
        env=QUICK_CONNECT,
    ),
    Case(
        "segment-scheduler-with-preview",
        (*RUN, "--scheduler", "local:1", "--preview", "p.png"),
        2,
        r"--preview draws one scene; run without --scheduler",
    ),
]
