"""Only :mod:`rossam_geo.io` opens paths: the modules that read frames, annotations, evaluation sources and
scene lists, and write synthetic datasets, call none of the file-opening functions themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rossam_geo"
#: calls that open a path (or list a folder) directly.
OPENING = re.compile(
    r"\bopen\(|\.read_text\(|\.write_text\(|\.read_bytes\(|\.write_bytes\(|\.glob\(|\.iterdir\(|"
    r"VideoCapture\(|imwrite\(|imread\(|rasterio\.open\(|pyogrio\.(read|write)_|np\.load\(|"
    r"sqlite3\.connect\(|mkstemp\(|fdopen\("
)
#: the modules named by the rule (the weights manager and training loaders keep their own file handling).
MODULES = [
    "video/frames.py",
    "video/annotations.py",
    "video/tracks.py",
    "video/outputs.py",
    "evaluate/sources.py",
    "synth/coco.py",
    "distributed/segment.py",
    "distributed/tracks.py",
    "distributed/cluster.py",
    "segmentation/sink.py",
    "segmentation/scene_file.py",
    "api.py",
    "preview.py",
]


@pytest.mark.parametrize("module", MODULES)
def test_the_module_opens_no_path_itself(module: str):
    source = (PACKAGE / module).read_text(encoding="utf-8")
    hits = [line.strip() for line in source.splitlines() if OPENING.search(line)]
    assert hits == []
