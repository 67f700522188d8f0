"""``python -m rossam_geo`` and ``python -m rossam_geo.cli`` run the ``rossam-geo`` command group."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["rossam_geo", "rossam_geo.cli"])
def test_module_runs_the_command_group(module: str):
    done = subprocess.run(
        [sys.executable, "-m", module, "segment", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: rossam-geo segment [OPTIONS] SCENE PROMPTS")
    assert "--resume" in done.stdout


def test_module_reports_usage_errors_like_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "rossam_geo", "no-such-command"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "Usage: rossam-geo [OPTIONS] COMMAND [ARGS]..." in done.stderr
    assert "No such command 'no-such-command'" in done.stderr
