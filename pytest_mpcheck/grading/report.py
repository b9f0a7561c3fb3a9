"""Score reports: the scoreboard as Gradescope, Exercism (v3) or GitHub Classroom JSON.

Every format is built from the same :class:`~pytest_mpcheck.grading.scores.Scoreboard`
with tests in collection order, so the content is the same with or without
pytest-xdist (only ``execution_time`` and durations differ). Files are written
atomically: a temporary file in the same folder, then ``os.replace``, so a reader (or
a run killed half-way) never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_mpcheck.grading.scores import (
    FAILED,
    PASSED,
    SKIPPED,
    Scoreboard,
    TestScore,
    bound_text,
)
from pytest_mpcheck.i18n import _

__all__ = [
    "FORMATS",
    "build_classroom",
    "build_exercism",
    "build_gradescope",
    "build_report",
    "write_json_atomic",
]

#: Exercism limits a test's ``message`` and ``output``; keep well within them.
EXERCISM_MESSAGE_LIMIT = 65535
EXERCISM_OUTPUT_LIMIT = 500


def _number(value: float) -> float | int:
    """Return ``value`` rounded to 4 places, as an int when it is whole (20, not 20.0)."""
    rounded = round(value, 4)
    return int(rounded) if rounded == int(rounded) else rounded


def build_gradescope(board: Scoreboard, execution_time: float) -> dict[str, Any]:
    """Return Gradescope's ``results.json``: score, max_score, tests, execution_time."""
    tests: list[dict[str, Any]] = []
    for test in board.ordered():
        status = test.final_status
        entry: dict[str, Any] = {
            "name": test.name,
            "score": _number(test.score),
            "max_score": _number(test.max_score),
            # Gradescope knows only passed/failed: a skipped test is worth 0 of 0 here
            # and its output says why it was not graded.
            "status": FAILED if status == FAILED else PASSED,
            "output": test.final_output,
            "visibility": "visible",
            "extra_data": {
                "exercise": test.exercise,
                "nodeid": test.nodeid,
                "outcome": test.status,
                "points": _number(test.points),
            },
        }
        tests.append(entry)
    return {
        "score": _number(board.score),
        "max_score": _number(board.max_score),
        "execution_time": round(execution_time, 2),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _exercism_status(test: TestScore) -> str:
    return "fail" if test.final_status == FAILED else "pass"


def build_exercism(board: Scoreboard, execution_time: float) -> dict[str, Any]:
    """Return Exercism's test-runner ``results.json``, version 3 (tests tied to tasks).

    Each exercise is a task, numbered from 1 in collection order. Skipped tests are
    left out (Exercism has no "not graded" status).
    """
    del execution_time  # Exercism's schema has no place for it
    task_ids: dict[str, int] = {}
    tests: list[dict[str, Any]] = []
    for test in board.ordered():
        task_id = task_ids.setdefault(test.exercise, len(task_ids) + 1)
        if test.final_status == SKIPPED:
            continue
        status = _exercism_status(test)
        entry: dict[str, Any] = {
            "name": test.name,
            "status": status,
            "test_code": test.nodeid,
            "task_id": task_id,
        }
        if status != "pass":
            entry["message"] = bound_text(test.final_output, EXERCISM_MESSAGE_LIMIT)
        tests.append(entry)
    result: dict[str, Any] = {"version": 3}
    if not tests:
        result["status"] = "error"
        result["message"] = _("No test ran: nothing could be graded.")
    else:
        result["status"] = "fail" if any(t["status"] != "pass" for t in tests) else "pass"
    result["tests"] = tests
    return result


def build_classroom(board: Scoreboard, execution_time: float) -> dict[str, Any]:
    """Return the JSON GitHub Classroom's autograding reporter reads (``version: 1``).

    The reporter sums the tests' ``score`` against the top-level ``max_score``; the
    workflow hands it this file base64-encoded as ``<RUNNER>_RESULTS``.
    """
    tests: list[dict[str, Any]] = []
    for test in board.ordered():
        if test.final_status == SKIPPED:
            continue
        status = _exercism_status(test)
        tests.append(
            {
                "name": test.name,
                "status": status,
                "message": test.final_output if status != "pass" else "",
                "test_code": test.nodeid,
                "filename": test.nodeid.split("::", 1)[0],
                "line_no": 0,
                "execution_time": f"{test.duration:.2f}s",
                "score": _number(test.score),
            }
        )
    if not tests:
        status = "error"
    else:
        status = "fail" if any(t["status"] != "pass" for t in tests) else "pass"
    return {
        "version": 1,
        "status": status,
        "max_score": _number(board.max_score),
        "tests": tests,
    }


FORMATS: dict[str, Callable[[Scoreboard, float], dict[str, Any]]] = {
    "gradescope": build_gradescope,
    "exercism": build_exercism,
    "classroom": build_classroom,
}


def build_report(board: Scoreboard, report_format: str, execution_time: float) -> dict[str, Any]:
    """Return the report of ``board`` in ``report_format`` (a key of :data:`FORMATS`)."""
    return FORMATS[report_format](board, execution_time)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
