"""The ``rossam-geo serve`` process: protocol errors, segment results, progress, cancel and shutdown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
import shapely
from shapely.geometry import shape

from tests.geo.fakes import UTM33_TRANSFORM
from tests.worker.conftest import WorkerProcess


def utm_box(col0: int, row0: int, col1: int, row1: int) -> list[float]:
    """XYXY in UTM 33N of the pixel-edge box covering columns col0..col1-1 and rows row0..row1-1."""
    x0, y1 = UTM33_TRANSFORM @ (col0, row0)
    x1, y0 = UTM33_TRANSFORM @ (col1, row1)
    return [x0, y0, x1, y1]


def test_ping_and_version(worker: WorkerProcess):
    assert worker.call("ping") == {"jsonrpc": "2.0", "id": 1, "result": "pong"}
    version = worker.call("version")["result"]
    assert version["protocol"] == 1
    assert "box" in version["engines"]
    assert version["loaded"] is None


def test_malformed_json_is_a_parse_error_with_null_id_and_the_worker_survives(worker: WorkerProcess):
    worker.send_raw(b'{"jsonrpc": "2.0", "method": "ping", "id": 7\n')
    response = worker.receive()
    assert response["id"] is None
    assert response["error"]["code"] == -32700
    worker.send_raw(b"\xff\xfe not utf-8\n")
    assert worker.receive()["error"]["code"] == -32700
    assert worker.call("ping")["result"] == "pong"


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ([1, 2], "batches are not supported"),
        ("just a string", "expected a JSON object"),
        ({"method": "ping", "id": 3}, '"jsonrpc" member must be "2.0"'),
        ({"jsonrpc": "2.0", "method": 5, "id": 3}, '"method" member must be a string'),
        ({"jsonrpc": "2.0", "method": "ping", "id": [1]}, '"id" must be a string'),
        ({"jsonrpc": "2.0", "method": "ping", "id": 3, "params": 4}, '"params" must be an object'),
    ],
)
def test_invalid_requests_get_32600(worker: WorkerProcess, message, match):
    worker.send_raw(json.dumps(message).encode() + b"\n")
    response = worker.receive()
    assert response["error"]["code"] == -32600
    assert match in response["error"]["message"]
    assert worker.call("ping")["result"] == "pong"


def test_unknown_method_gets_32601_with_its_id(worker: WorkerProcess):
    response = worker.call("segmentize", {})
    assert response["error"]["code"] == -32601
    assert "'segmentize' not found" in response["error"]["message"]
    assert "segment" in response["error"]["message"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"boxes": [[0, 0, 1, 1]]}, 'missing parameter "raster"'),
        ({"raster": 5, "boxes": [[0, 0, 1, 1]]}, 'parameter "raster" must be a string, got number'),
        ({"raster": "x.tif"}, 'missing parameter "boxes"'),
        ({"raster": "x.tif", "boxes": "0,0,1,1"}, 'parameter "boxes" must be a list'),
        ({"raster": "x.tif", "boxes": [[0, 0, 1]]}, r'"boxes"\[0\] must be 4 finite numbers'),
        ({"raster": "x.tif", "boxes": [[0, 0, 1, True]]}, r'"boxes"\[0\] must be 4 finite numbers'),
        ({"raster": "x.tif", "boxes": [], "colour": "red"}, r"unknown parameter\(s\) colour"),
        ({"raster": "x.tif", "boxes": [], "options": []}, 'parameter "options" must be an object'),
        (["x.tif", []], "pass parameters by name"),
    ],
)
def test_wrong_parameters_get_32602(worker: WorkerProcess, params, match):
    response = worker.call("segment", {**params, "engine": "box"} if isinstance(params, dict) else params)
    assert response["error"]["code"] == -32602
    assert re.search(match, response["error"]["message"]), response["error"]["message"]


def test_unknown_option_names_the_accepted_ones(worker: WorkerProcess, utm_raster):
    params = {"raster": str(utm_raster), "boxes": [], "engine": "box", "options": {"crop_sise": 256}}
    error = worker.call("segment", params)["error"]
    assert error["code"] == -32602
    assert "crop_sise" in error["message"] and "crop_size" in error["message"]


def test_missing_raster_is_an_input_error_naming_the_path(worker: WorkerProcess, tmp_path):
    missing = tmp_path / "nowhere.tif"
    error = worker.call("segment", {"raster": str(missing), "boxes": [[0, 0, 1, 1]], "engine": "box"})[
        "error"
    ]
    assert error["code"] == -32001
    assert str(missing) in error["message"]
    assert worker.call("ping")["result"] == "pong"


def test_unknown_crs_is_an_input_error(worker: WorkerProcess, utm_raster):
    params = {"raster": str(utm_raster), "boxes": [[0, 0, 1, 1]], "crs": "EPSG:999999", "engine": "box"}
    error = worker.call("segment", params)["error"]
    assert error["code"] == -32001
    assert "EPSG:999999" in error["message"]


def test_unknown_engine_is_an_engine_error(worker: WorkerProcess, utm_raster):
    error = worker.call("load_model", {"engine": "magic"})["error"]
    assert error["code"] == -32004
    assert "unknown engine 'magic'" in error["message"]


def test_message_over_the_limit_is_dropped_and_reported():
    process = WorkerProcess("--max-message-mib", "0.01")  # 10,485 bytes
    try:
        big = {"jsonrpc": "2.0", "method": "ping", "id": 1, "params": {"pad": "x" * 50_000}}
        process.send_raw(json.dumps(big).encode() + b"\n")
        response = process.receive()
        assert response["id"] is None
        assert response["error"]["code"] == -32600
        assert "longer than 10485 bytes" in response["error"]["message"]
        assert process.call("ping")["result"] == "pong"
    finally:
        assert process.close() == 0


def test_segment_box_engine_returns_exact_geometry_in_the_raster_crs(worker: WorkerProcess, utm_raster):
    boxes = [utm_box(10, 5, 20, 15), utm_box(0, 0, 3, 2)]
    result = worker.call("segment", {"raster": str(utm_raster), "boxes": boxes, "engine": "box"})["result"]
    assert result["type"] == "FeatureCollection"
    assert result["crs"]["properties"]["name"] == "EPSG:32633"
    assert "UTM zone 33N" in result["crs"]["properties"]["wkt"]
    features = result["features"]
    assert [f["properties"]["prompt_id"] for f in features] == [0, 1]
    for feature, box in zip(features, boxes, strict=True):
        assert shape(feature["geometry"]).equals(shapely.box(*box))
        props = feature["properties"]
        assert props["status"] == "ok" and props["engine"] == "box"
        assert props["area"] == pytest.approx(shapely.box(*box).area) and props["area_unit"] == "m2"
        assert props["source"] == "utm.tif"
        assert {"class", "score", "model", "crop_size", "upsample", "created", "reason"} <= set(props)


def test_segment_reprojects_boxes_given_in_another_crs(worker: WorkerProcess, utm_raster):
    from pyproj import Transformer

    box = utm_box(10, 5, 20, 15)
    to_wgs84 = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    # a lon/lat box strictly inside the pixel-edge box, covering the same pixel centres
    lon0, lat0 = to_wgs84.transform(box[0] + 0.1, box[1] + 0.1)
    lon1, lat1 = to_wgs84.transform(box[2] - 0.1, box[3] - 0.1)
    params = {
        "raster": str(utm_raster),
        "boxes": [[lon0, lat0, lon1, lat1]],
        "crs": "EPSG:4326",
        "engine": "box",
    }
    feature = worker.call("segment", params)["result"]["features"][0]
    assert shape(feature["geometry"]).equals(shapely.box(*box))


def test_box_outside_the_raster_is_reported_and_the_rest_proceeds(worker: WorkerProcess, utm_raster):
    boxes = [[0.0, 0.0, 1.0, 1.0], utm_box(1, 1, 4, 4)]
    features = worker.call("segment", {"raster": str(utm_raster), "boxes": boxes, "engine": "box"})["result"][
        "features"
    ]
    assert features[0]["geometry"] is None
    assert features[0]["properties"]["status"] == "skipped"
    assert "outside" in features[0]["properties"]["reason"]
    assert shape(features[1]["geometry"]).equals(shapely.box(*utm_box(1, 1, 4, 4)))


def test_plain_frame_results_are_in_pixels_y_down_without_crs(worker: WorkerProcess, png_frame):
    result = worker.call("segment", {"raster": str(png_frame), "boxes": [[2, 3, 5, 7]], "engine": "box"})[
        "result"
    ]
    assert result["crs"] is None
    assert shape(result["features"][0]["geometry"]).equals(shapely.box(2, 3, 5, 7))
    assert result["features"][0]["properties"]["area_unit"] == "px"
    info = worker.call("raster_info", {"raster": str(png_frame)})["result"]
    assert info["georeferenced"] is False and info["crs"] is None
    assert (info["width"], info["height"]) == (40, 30)


def test_raster_info_of_a_georeferenced_raster(worker: WorkerProcess, utm_raster):
    info = worker.call("raster_info", {"raster": str(utm_raster)})["result"]
    assert info["georeferenced"] is True
    assert info["crs"]["properties"]["name"] == "EPSG:32633"
    assert info["transform"] == [0.5, 0.0, 500000.0, 0.0, -0.5, 5000000.0]


def test_progress_notifications_precede_the_result(worker: WorkerProcess, utm_raster):
    boxes = [utm_box(i, i, i + 3, i + 3) for i in range(3)]
    request_id = worker.send("segment", {"raster": str(utm_raster), "boxes": boxes, "engine": "box"})
    response = worker.receive()
    assert response["id"] == request_id and "result" in response
    progress = [n["params"] for n in worker.notifications if n["method"] == "progress"]
    assert progress == [{"id": request_id, "done": d, "total": 3} for d in range(4)]


def test_model_stays_loaded_between_requests(worker: WorkerProcess, utm_raster):
    first = worker.call("load_model", {"engine": "box"})["result"]
    assert first["engine"] == "box" and first["reused"] is False
    assert worker.call("load_model", {"engine": "box", "device": "auto"})["result"]["reused"] is True
    # segment without an engine uses the loaded one
    result = worker.call("segment", {"raster": str(utm_raster), "boxes": [utm_box(1, 1, 2, 2)]})["result"]
    assert result["features"][0]["properties"]["engine"] == "box"
    assert worker.call("version")["result"]["loaded"]["engine"] == "box"
    assert sum("loading engine box" in line for line in worker.stderr_lines) == 1


def test_cancel_stops_a_running_segment_request(worker: WorkerProcess, big_utm_raster):
    boxes = [utm_box(i % 200, i % 200, i % 200 + 20, i % 200 + 20) for i in range(5000)]
    request_id = worker.send("segment", {"raster": str(big_utm_raster), "boxes": boxes, "engine": "box"})
    # wait for the first box to be done, then cancel
    first = worker.messages.get(timeout=60)
    while not (first.get("method") == "progress" and first["params"]["done"] >= 1):
        first = worker.messages.get(timeout=60)
    cancel_id = worker.send("cancel", {"id": request_id})
    responses = {}
    while len(responses) < 2:
        message = worker.receive()
        responses[message["id"]] = message
    assert responses[cancel_id]["result"] == {"id": request_id, "cancelled": True}
    error = responses[request_id]["error"]
    assert error["code"] == -32003
    assert "cancelled after" in error["message"]
    done = [n["params"]["done"] for n in worker.notifications if n["params"]["id"] == request_id]
    assert max(done, default=0) < 5000
    assert worker.call("ping")["result"] == "pong"


def test_cancel_of_an_unknown_request_says_so(worker: WorkerProcess):
    assert worker.call("cancel", {"id": 999})["result"] == {"id": 999, "cancelled": False}
    assert worker.call("cancel", {})["error"]["code"] == -32602


def test_shutdown_answers_and_exits_with_code_0():
    process = WorkerProcess()
    assert process.call("shutdown")["result"] is None
    assert process.proc.wait(timeout=30) == 0


def test_end_of_input_exits_with_code_0():
    process = WorkerProcess()
    assert process.proc.stdin is not None
    process.proc.stdin.close()
    started = time.monotonic()
    assert process.proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 30


def test_stray_prints_do_not_reach_the_protocol_stream():
    # a method that prints to sys.stdout and writes to file descriptor 1 while the worker is serving
    serving = (
        "import sys, os\n"
        "import rossam_geo.worker.server as server\n"
        "orig = server.Worker._ping\n"
        "def noisy(self, params):\n"
        "    print('stray print while serving'); os.write(1, b'stray fd write\\n')\n"
        "    return orig(self, params)\n"
        "server.Worker._ping = noisy\n"
        "from rossam_geo.worker.stdio import serve_stdio\n"
        "sys.exit(serve_stdio())\n"
    )
    request = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    done = subprocess.run([sys.executable, "-c", serving], input=request, capture_output=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == b'{"jsonrpc":"2.0","id":1,"result":"pong"}\n'
    assert b"stray print while serving" in done.stderr and b"stray fd write" in done.stderr
