"""Bad and odd input to the real CLI and the real worker, one table row per case, each run as a subprocess.

Every command-line row asserts: the exit code; a message found in the output; for errors, at most
:data:`~tests.cli.bad_input_table.MAX_LINES` non-empty lines and no traceback; that every file present before
the run (inputs and existing outputs) is unchanged and that no file appears that the row does not expect.
Every worker row asserts the JSON-RPC error code and a one-line message (or the result), that the worker still
answers ``ping`` and ends cleanly at the end of input, without a traceback, and the same of the files.

The rows live in :mod:`tests.cli.bad_input_rows_segment`, :mod:`~tests.cli.bad_input_rows_output` and
:mod:`~tests.cli.bad_input_rows_other`; the files they name are built by :mod:`tests.cli.bad_inputs`. The
selected rows run at once on a few threads, one process each (:func:`~tests.cli.bad_input_table.run_rows`,
``ROSSAM_GEO_TEST_JOBS`` sets how many), before the first row's test; each row's test then checks its own.
Each process is forked from a server that imported the libraries once (:mod:`tests.cli.forkserver`), which
saves most of a row's CPU time; ``ROSSAM_GEO_TEST_FORKSERVER=0`` starts a fresh ``python -m rossam_geo`` per
row instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.bad_input_rows_other import OTHER_CASES, WORKER_CASES
from tests.cli.bad_input_rows_output import OUTPUT_CASES
from tests.cli.bad_input_rows_segment import SEGMENT_CASES
from tests.cli.bad_input_table import MAX_LINES, Case, Outcome, Row, WorkerCase, run_rows
from tests.cli.bad_inputs import PWNED

CASES: list[Case] = [*SEGMENT_CASES, *OUTPUT_CASES, *OTHER_CASES]
ROWS: dict[str, Row] = {row.name: row for row in [*CASES, *WORKER_CASES]}
#: a JSON-RPC error message is one line of at most this many characters.
MAX_RPC_MESSAGE_CHARS = 300
#: rows that write into /sys to meet a folder nobody may create files in.
NEEDS_SYS = {c.name for c in CASES if any(a.startswith("/sys/") for a in c.argv)}


def test_the_table_has_a_row_per_case():
    assert len(ROWS) == len(CASES) + len(WORKER_CASES), "two rows share a name"
    assert len(ROWS) >= 100


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every selected row, run (the rows of the tests pytest is about to run in this module)."""
    selected = [
        item.callspec.params["row"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "row" in item.callspec.params
    ]
    return run_rows([(ROWS[name], tmp_path_factory.mktemp(name)) for name in dict.fromkeys(selected)])


def _outcome(outcomes: dict[str, object], name: str) -> Outcome:
    outcome = outcomes[name]
    if isinstance(outcome, BaseException):
        raise outcome
    assert isinstance(outcome, Outcome)
    return outcome


def _files_unchanged(outcome: Outcome, changes: tuple[str, ...] = (), creates: tuple[str, ...] = ()) -> None:
    before = {k: v for k, v in outcome.before.items() if k not in changes}
    assert {k: outcome.after.get(k) for k in before} == before, "an input or existing output changed"
    assert set(outcome.after) - set(outcome.before) == set(creates)
    assert not (outcome.root / PWNED).exists()


@pytest.mark.parametrize("row", [c.name for c in CASES])
def test_command_line(row: str, outcomes: dict[str, object]):
    case = ROWS[row]
    assert isinstance(case, Case)
    if row in NEEDS_SYS and not Path("/sys").is_dir():
        pytest.skip("needs /sys, a folder nobody may create files in")
    outcome = _outcome(outcomes, row)
    output = outcome.output
    assert outcome.returncode == case.exit_code, output
    assert re.search(case.message, output, re.MULTILINE), output
    assert "Traceback" not in output
    if case.max_lines is not None:
        lines = [line for line in output.splitlines() if line.strip()]
        assert len(lines) <= min(case.max_lines, MAX_LINES), output
    _files_unchanged(outcome, (*case.changes, *case.same_content), case.creates)
    for name, (before, after) in outcome.contents.items():
        assert after == before, f"the content of {name} changed"
    if case.check is not None:
        case.check(outcome.root)


@pytest.mark.parametrize("row", [c.name for c in WORKER_CASES])
def test_worker(row: str, outcomes: dict[str, object]):
    case = ROWS[row]
    assert isinstance(case, WorkerCase)
    outcome = _outcome(outcomes, row)
    assert outcome.returncode == 0, outcome.stderr
    assert "Traceback" not in outcome.stderr, outcome.stderr
    responses = outcome.responses()
    assert responses["ping"]["result"] == "pong", outcome.stdout[-2000:]
    if case.code is not None:
        error = responses[case.response_id]["error"]
        assert error["code"] == case.code, error
        assert re.search(case.message, error["message"]), error["message"]
        assert "\n" not in error["message"] and len(error["message"]) <= MAX_RPC_MESSAGE_CHARS
    elif case.response_id is not None:
        response = responses[case.response_id]
        assert "result" in response, response
        assert re.search(case.message, str(response["result"]).replace("'", '"')), response
    if case.check is not None:
        case.check(responses[case.response_id])
    _files_unchanged(outcome)
