"""Rows of the bad-input table for ``tracks``, ``evaluate``, ``weights``, ``train`` and ``serve``, and the
requests sent to a running ``rossam-geo serve`` (see :mod:`tests.cli.test_bad_input`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.bad_input_rows_segment import BOX, _default_mode
from tests.cli.bad_input_table import PING, Case, WorkerCase

EVAL_OUTPUTS = tuple(
    f"eval/{n}" for n in ("evaluation.json", "evaluation.md", "iou_histogram.png", "iou_vs_area.png")
)
#: the usual tracks run: two GeoTIFF frames, one track.
TRACKS = ("tracks", "frames", "mot.txt", "-o", "tracks.gpkg", *BOX)
#: the usual evaluation: predictions without ids, polygons over the scene.
EVALUATE = ("evaluate", "pred_without_ids.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval")
#: bytes of a request line over the worker's 16 MiB limit.
TWENTY_MB = 20 * 1024 * 1024


def _evaluation_files_have_the_default_mode(root: Path) -> None:
    for name in ("evaluation.json", "evaluation.md"):
        _default_mode(root / "eval" / name)


OTHER_CASES = [
    # ------------------------------------------------------------------ tracks
    Case(
        "tracks-text-file-named-as-video",
        ("tracks", "notes.mp4", "mot.txt", "-o", "tracks.gpkg", *BOX),
        1,
        r"^Error: 'notes.mp4' is a text file, not a video; pass a video file",
    ),
    Case(
        "tracks-undecodable-video",
        ("tracks", "noise.mp4", "mot.txt", "-o", "tracks.gpkg", *BOX),
        1,
        r"^Error: cannot open 'noise.mp4' as a video; pass a video file",
    ),
    Case(
        "tracks-missing-frames",
        ("tracks", "missing.mp4", "mot.txt", "-o", "tracks.gpkg", *BOX),
        2,
        r"Error: Invalid value for 'FRAMES': Path 'missing.mp4' does not exist",
    ),
    Case(
        "tracks-band-the-frames-lack",
        (*TRACKS, "--bands", "9"),
        1,
        r"^Error: --bands 9 asks for band 9, but 'f1.tif' has 3 band\(s\); give band numbers from 1 to 3$",
    ),
    Case(
        "tracks-bands-for-a-video",
        ("tracks", "clip.avi", "mot.txt", "-o", "tracks.gpkg", "--bands", "1", *BOX),
        1,
        r"^Error: --bands applies to folders of image frames; a video is decoded as RGB; drop it$",
    ),
    Case(
        "tracks-output-folder-not-writable",
        (*TRACKS[:4], "/sys/tracks.gpkg", *BOX),
        1,
        r"^Error: -o '/sys/tracks.gpkg': cannot write into '/sys': permission denied",
    ),
    Case(
        "tracks-report-folder-not-writable",
        (*TRACKS, "--report", "/sys/jumps.csv"),
        1,
        r"^Error: --report: cannot write into '/sys': permission denied",
    ),
    Case(
        "tracks-reserved-layer-name",
        (*TRACKS, "--layer-name", "gpkg_x"),
        1,
        r"^Error: --layer-name 'gpkg_x' starts with a name GeoPackage reserves",
    ),
    Case(
        "tracks-scheduler-garbage",
        (*TRACKS, "--scheduler", "garbage"),
        1,
        r"^Error: --scheduler 'garbage' is not a scheduler address",
    ),
    Case(
        "tracks-negative-min-region",
        (*TRACKS, "--min-region", "-1"),
        1,
        r"^Error: --min-region must be >= 0 pixels",
    ),
    Case(
        "tracks-overwrite-and-resume",
        (*TRACKS, "--overwrite", "--resume"),
        2,
        r"choose one of --overwrite and --resume",
    ),
    Case(
        "tracks-bad-class-map",
        (*TRACKS, "--class-map", "1:car"),
        2,
        r"Invalid value for '--class-map': '1:car' is not CODE=NAME",
    ),
    Case(
        "tracks-existing-output",
        ("tracks", "frames", "mot.txt", "-o", "made.gpkg", *BOX),
        1,
        r"^Error: output 'made.gpkg' exists; use --resume to continue that run or --overwrite",
    ),
    Case(
        "tracks-resume-a-corrupt-output",
        ("tracks", "frames", "mot.txt", "-o", "corrupt.gpkg", "--resume", *BOX),
        1,
        r"^Error: 'corrupt.gpkg' is not a readable GeoPackage",
    ),
    Case(
        "tracks-binary-annotations",
        ("tracks", "frames", "binary_annotations.txt", "-o", "tracks.gpkg", *BOX),
        1,
        r"^Error: cannot read annotations 'binary_annotations.txt'",
    ),
    # ------------------------------------------------------------------ evaluate
    Case(
        "evaluate-predictions-without-ids",
        EVALUATE,
        1,
        r"^Error: predictions pred_without_ids.gpkg have no 'prompt_id' field, so they cannot be matched .*"
        r"--match position .* --match overlap",
    ),
    Case(
        "evaluate-predictions-without-ids-by-overlap",
        (*EVALUATE, "--match", "overlap"),
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
        "evaluate-missing-ground-truth",
        ("evaluate", "made.gpkg", "nothing.gpkg", "--raster", "scene.tif", "--out-dir", "eval"),
        1,
        r"^Error: file not found: nothing.gpkg; check the path$",
    ),
    Case(
        "evaluate-text-file-as-predictions",
        ("evaluate", "not_sqlite.gpkg", "gt.gpkg", "--raster", "scene.tif", "--out-dir", "eval"),
        1,
        r"^Error: cannot read not_sqlite.gpkg as a vector file \(.*\); give a GeoPackage, GeoJSON or "
        r"Shapefile$",
    ),
    Case(
        "evaluate-text-file-as-raster",
        ("evaluate", "made.gpkg", "gt.gpkg", "--raster", "not_sqlite.gpkg", "--out-dir", "eval"),
        1,
        r"^Error: cannot open raster not_sqlite.gpkg \(.*\); give a GDAL-readable raster$",
    ),
    Case(
        "evaluate-out-dir-under-a-file",
        (*EVALUATE[:-1], "a_file/eval"),
        1,
        r"^Error: --out-dir: cannot write into 'a_file/eval': 'a_file' is a file, not a folder$",
        given=("a_file",),
    ),
    Case(
        "evaluate-out-dir-not-writable",
        (*EVALUATE[:-1], "/sys/eval"),
        1,
        r"^Error: --out-dir: cannot write into '/sys/eval': permission denied; choose another folder",
    ),
    Case(
        "evaluate-existing-outputs-need-overwrite",
        (*EVALUATE, "--match", "position"),
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
    Case(
        "evaluate-dataset-folder-missing",
        ("evaluate", "--dataset", "no_dataset"),
        2,
        r"Invalid value for '--dataset': Directory 'no_dataset' does not exist",
    ),
    # ------------------------------------------------------------------ weights
    Case(
        "weights-fetch-url-not-a-url",
        ("weights", "fetch", "sam_vit_b", "--url", "notaurl", "--cache-dir", "cache"),
        1,
        r"^Error: --url 'notaurl' is not a download URL; give a full https://, http:// or file:// URL",
    ),
    Case(
        "weights-fetch-url-of-another-protocol",
        ("weights", "fetch", "sam_vit_b", "--url", "ftp://example.org/sam.pth", "--cache-dir", "cache"),
        1,
        r"^Error: --url 'ftp://example.org/sam.pth' is not a download URL",
    ),
    Case(
        "weights-fetch-missing-local-file",
        ("weights", "fetch", "sam_vit_b", "--url", "file:///nonexistent/sam.pth", "--cache-dir", "cache")
        + ("--no-progress",),
        1,
        r"^Error: could not download sam_vit_b_01ec64.pth from file:///nonexistent/sam.pth: .*No such file",
        creates=("cache/.locks/sam_vit_b_01ec64.pth.lock",),  # the cache's lock, kept for later fetches
    ),
    Case(
        "weights-fetch-unknown-name",
        ("weights", "fetch", "sam_vit_x", "--cache-dir", "cache"),
        1,
        r"^Error: unknown weights 'sam_vit_x'; choose one of: sam_vit_b",
    ),
    Case(
        "weights-cache-dir-is-a-file",
        ("weights", "list", "--cache-dir", "a_file"),
        2,
        r"Invalid value for '--cache-dir': Directory 'a_file' is a file",
    ),
    Case(
        "weights-path-unknown-name",
        ("weights", "path", "sam_vit_q"),
        1,
        r"^Error: unknown weights 'sam_vit_q'",
    ),
    Case(
        "weights-verify-missing-file",
        ("weights", "verify", "missing.pth", "--cache-dir", "cache"),
        1,
        r"missing.pth",
    ),
    Case(
        "weights-verify-with-a-bad-hash",
        ("weights", "verify", "scene.tif", "--sha256", "abc"),
        1,
        r"^Error: 'abc' is not a SHA-256; give 64 hexadecimal digits$",
    ),
    # ------------------------------------------------------------------ train and serve
    Case(
        "train-missing-data",
        ("train", "--data", "nothing.json", "-o", "run"),
        1,
        r"^Error: --data 'nothing.json' does not exist; check the path$",
    ),
    Case(
        "train-output-folder-not-writable",
        ("train", "--data", "gt.gpkg", "-o", "/sys/run"),
        1,
        r"^Error: --output-dir: cannot write into '/sys/run': permission denied",
    ),
    Case(
        "train-config-not-toml",
        ("train", "--config", "bad.toml", "--data", "x", "-o", "run"),
        2,
        r"Invalid value for '--config': config file 'bad.toml' is not valid TOML",
    ),
    Case(
        "serve-message-limit-zero",
        ("serve", "--max-message-mib", "0"),
        2,
        r"Invalid value for '--max-message-mib': 0.0 is not in the range",
    ),
]


def _request(method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


#: a box around pixels (4, 4)-(20, 20) of ``scene.tif``, in its CRS (UTM 33N).
BOX_UTM = [500_002.0, 4_999_990.0, 500_010.0, 4_999_998.0]


def _segment(raster: str = "scene.tif", **params: Any) -> dict[str, Any]:
    return _request("segment", raster=raster, boxes=[BOX_UTM], engine="box", **params)


def _reasons_name_gdal(response: dict[str, Any]) -> None:
    (feature,) = response["result"]["features"]
    assert feature["properties"]["status"] == "failed"
    assert "Read error at scanline" in feature["properties"]["reason"], feature["properties"]["reason"]


WORKER_CASES = [
    WorkerCase(
        "serve-bands-not-a-list",
        _segment(options={"bands": "abc"}),
        -32602,
        r"^options.bands must be a list of 1 or 3 band numbers, e.g. \[4, 3, 2\], got 'abc'$",
    ),
    WorkerCase(
        "serve-output-crs-unknown",
        _segment(options={"output_crs": "foo"}),
        -32602,
        r"^options.output_crs 'foo' is not a CRS pyproj knows",
    ),
    WorkerCase(
        "serve-band-the-raster-lacks",
        _segment(options={"bands": [9]}),
        -32602,
        r"^options.bands 9 asks for band 9, but 'scene.tif' has 3 band\(s\)",
    ),
    WorkerCase(
        "serve-crop-size-too-small",
        _segment(options={"crop_size": 4}),
        -32602,
        r"^options.crop_size must be an integer of at least 8 pixels, got 4$",
    ),
    WorkerCase(
        "serve-unknown-option",
        _segment(options={"crop_sise": 256}),
        -32602,
        r'^"options" has unknown key\(s\) crop_sise; accepted: crop_size',
    ),
    WorkerCase(
        "serve-boxes-not-a-list",
        _request("segment", raster="scene.tif", boxes="all", engine="box"),
        -32602,
        r'^parameter "boxes" must be a list',
    ),
    WorkerCase(
        "serve-box-with-text",
        _request("segment", raster="scene.tif", boxes=[[1, 2, "x", 4]], engine="box"),
        -32602,
        r'^"boxes"\[0\] must be 4 finite numbers',
    ),
    WorkerCase(
        "serve-unknown-crs",
        _segment(crs="EPSG:999999"),
        -32001,
        r'^"crs" \'EPSG:999999\' is not a CRS pyproj knows',
    ),
    WorkerCase(
        "serve-missing-raster",
        _request("segment", raster="nowhere.tif", boxes=[[4, 4, 20, 20]], engine="box"),
        -32001,
        r"nowhere.tif",
    ),
    WorkerCase(
        "serve-raster-info-of-a-text-file",
        _request("raster_info", raster="not_sqlite.gpkg"),
        -32001,
        r"^cannot open raster 'not_sqlite.gpkg'",
    ),
    WorkerCase(
        "serve-unknown-engine", _request("load_model", engine="magic"), -32004, r"^unknown engine 'magic'"
    ),
    WorkerCase(
        "serve-pickle-weights-refused-never-run",
        _request("load_model", engine="sam", weights="evil.pth", device="cpu"),
        -32002,
        r"evil.pth is not a PyTorch checkpoint that loads with weights_only=True",
    ),
    WorkerCase(
        "serve-unknown-method", _request("segmentt"), -32601, r"^method 'segmentt' not found; methods: "
    ),
    WorkerCase(
        "serve-malformed-json",
        b'{"jsonrpc": "2.0", "id": 1, "method": "ping"\n',
        -32700,
        r"^parse error: not valid UTF-8 JSON",
        response_id=None,
    ),
    WorkerCase(
        "serve-invalid-utf8", b"\xff\xfe{}\n", -32700, r"^parse error: not valid UTF-8 JSON", response_id=None
    ),
    WorkerCase(
        "serve-batch-array",
        b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]\n',
        -32600,
        r"^invalid request: batches are not supported",
        response_id=None,
    ),
    WorkerCase(
        "serve-not-jsonrpc-2",
        b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}\n',
        -32600,
        r'^invalid request: the "jsonrpc" member must be "2.0"$',
    ),
    WorkerCase(
        "serve-20-mb-line",
        b'{"pad": "' + b"x" * TWENTY_MB + b'"}\n',
        -32600,
        r"^invalid request: message longer than \d+ bytes; message dropped$",
        response_id=None,
    ),
    WorkerCase("serve-end-of-input-after-ping", b"", None, r"", response_id=None),
    WorkerCase(
        "serve-end-of-input-inside-a-line",
        PING + b'{"jsonrpc": "2.0", "id": 1, "meth',
        -32700,
        r"^parse error: not valid UTF-8 JSON",
        response_id=None,
        ping_after=False,
    ),
    WorkerCase(
        "serve-truncated-raster-boxes-carry-gdal-reason",
        _segment("truncated_data.tif"),
        None,
        r'"status":\s*"failed"',
        check=_reasons_name_gdal,
    ),
    WorkerCase("serve-good-request-control", _segment(options={"crop_size": 64}), None, r'"status":\s*"ok"'),
]
