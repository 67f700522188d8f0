"""The plugin's pure texts: backend messages naming the dialog's fields, and the "Test backend" report."""

from __future__ import annotations

from rossam_geo_qgis.backend_report import engine_lines, summary_lines, weights_choices, wrapped
from rossam_geo_qgis.messages import backend_error_text, for_dialog

NOT_CACHED = (
    "weights 'sam_hq_vit_b' are not in the cache (expected at /c/sam_hq_vit_b.pth); download them with "
    "`rossam-geo weights fetch sam_hq_vit_b`, or pass `--weights PATH` with the path of a local copy of "
    "sam_hq_vit_b.pth"
)
ENVIRONMENT = {
    "torch": "2.4.0",
    "cuda": {"available": False, "devices": [], "version": None},
    "mps": False,
    "auto_device": "cpu",
    "cache_dir": "/c",
    "engines": [
        {"name": "box", "needs": "nothing", "default_weights": None, "ready": True},
        {"name": "rossam", "needs": "bundled", "default_weights": "rossam-compact-v3.2", "ready": True},
        {"name": "hq-sam", "needs": "registry", "default_weights": "sam_hq_vit_b", "ready": False},
        {"name": "sam", "needs": "registry", "default_weights": "sam_vit_b", "ready": True},
    ],
    "weights": [
        {"name": "sam_hq_vit_b", "family": "hq-sam", "arch": "vit_b", "cached": False, "note": "HQ"},
        {"name": "sam_vit_b", "family": "sam", "arch": "vit_b", "cached": True, "note": "SAM"},
    ],
}
VERSION = {"rossam_geo": "0.1.0", "python": "3.11.2", "engines": ["box", "rossam", "hq-sam", "sam"]}


def test_weights_flags_become_the_weights_field():
    text = for_dialog(NOT_CACHED)
    assert "--weights" not in text
    assert text.endswith(
        'or set "Weights" in ROS-SAM settings to the path of a local copy of sam_hq_vit_b.pth'
    )
    assert "`rossam-geo weights fetch sam_hq_vit_b`" in text  # a command, not a flag: kept


def test_engine_and_device_flags_become_field_values():
    text = for_dialog("use --engine hq-sam or --engine sam with official weights; or use --device cpu")
    assert text == 'use Engine "hq-sam" or Engine "sam" with official weights; or use Device "cpu"'


def test_weights_errors_say_which_engine_needs_weights():
    text = backend_error_text(NOT_CACHED, -32002, "hq-sam")
    assert text.startswith(
        'engine "hq-sam" needs weights (the "Weights" field of ROS-SAM settings): weights '
    )
    assert backend_error_text("unknown CRS", -32001, "hq-sam") == "unknown CRS"


def test_summary_names_versions_and_devices():
    assert summary_lines(VERSION, ENVIRONMENT) == [
        "rossam-geo 0.1.0, Python 3.11.2, torch 2.4.0",
        "CUDA not found: this torch is built without CUDA (CPU only)",
        'Device "auto" uses: cpu',
        "Weights cache: /c",
    ]
    gpu = {**ENVIRONMENT, "cuda": {"available": True, "devices": ["NVIDIA H200"], "version": "12.4"}}
    assert summary_lines(VERSION, gpu)[1] == "CUDA found: NVIDIA H200 (CUDA 12.4)"


def test_a_line_per_engine_says_what_it_needs():
    assert engine_lines(VERSION, ENVIRONMENT) == [
        "box: ready, needs no weights",
        "rossam: ready, bundled model rossam-compact-v3.2",
        'hq-sam: needs weights: set "Weights" to a checkpoint file, or download the default sam_hq_vit_b '
        "with: rossam-geo weights fetch sam_hq_vit_b",
        'sam: ready, default weights sam_vit_b are downloaded (or set "Weights")',
    ]


def test_an_older_backend_gives_engine_names_only():
    assert engine_lines(VERSION, None)[0] == "box: no details from this backend"
    assert "update its rossam-geo" in summary_lines(VERSION, None)[1]


def test_weights_choices_put_downloaded_ones_first():
    choices = weights_choices(ENVIRONMENT)
    assert [(name, cached) for name, _tip, cached in choices] == [
        ("sam_vit_b", True),
        ("sam_hq_vit_b", False),
    ]
    assert "rossam-geo weights fetch sam_hq_vit_b" in choices[1][1]


def test_long_lines_wrap_with_an_indent():
    text = wrapped(["a " * 60], width=40)
    assert all(len(line) <= 40 for line in text.splitlines())
    assert text.splitlines()[1].startswith("    a")
