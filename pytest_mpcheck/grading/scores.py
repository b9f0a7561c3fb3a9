"""The scoreboard: points earned and possible, per test and per exercise.

The grading plugin keeps one :class:`Scoreboard` per run in ``config.stash``; read it
with :func:`get_scoreboard`. It is fed from ``pytest_runtest_logreport``, which under
pytest-xdist runs on the controller (where the reports of every worker arrive), so
the board there is the whole run's. Each test's worth travels on its reports (see
:mod:`pytest_mpcheck.grading.points`), and the collected tests are registered up
front, so a test that never reports (the run crashed or was killed first) still
counts as failed, with a reason.

An exercise is a test module: its name is the file's stem without ``test_``
(``exercises/test_ex3_queue.py`` -> ``ex3_queue``). Skipped tests (for example the
speedup verdict on a machine with fewer than 2 CPUs) are left out of ``max_score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pytest

from pytest_mpcheck.grading.points import note_from_properties, points_from_properties
from pytest_mpcheck.i18n import _

__all__ = [
    "ExerciseScore",
    "Scoreboard",
    "TestScore",
    "exercise_of",
    "get_scoreboard",
    "test_name",
]

#: How long a learner-facing ``output`` may be, in characters.
OUTPUT_LIMIT = 8000
#: How many last lines of a traceback are kept when a failure carries no learner text.
TRACEBACK_LINES = 40

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
RUNNING = "running"
NOT_RUN = "not run"


def exercise_of(nodeid: str) -> str:
    """Return the exercise a test belongs to: its module's stem without ``test_``."""
    path = nodeid.split("::", 1)[0]
    stem = PurePosixPath(path).name
    if stem.endswith(".py"):
        stem = stem[:-3]
    if stem.startswith("test_"):
        stem = stem[len("test_") :]
    elif stem.endswith("_test"):
        stem = stem[: -len("_test")]
    return stem


def test_name(nodeid: str) -> str:
    """Return the report name of a test: ``"ex3_queue: test_fifo[spawn]"``."""
    exercise = exercise_of(nodeid)
    parts = nodeid.split("::", 1)
    inner = parts[1].replace("::", ".") if len(parts) > 1 else parts[0]
    return f"{exercise}: {inner}"


def bound_text(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """Return ``text`` cut to at most about ``limit`` characters, saying so when cut."""
    if len(text) <= limit:
        return text
    note = _("... ({count} characters cut) ...").format(count=len(text) - limit)
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n{note}\n{text[-tail:]}"


def failure_text(report: pytest.TestReport) -> str:
    """Return the learner-facing reason of a failed report.

    The kit fails with ``pytest.fail(message, pytrace=False)``, whose report text is
    exactly the message. Any other failure keeps the last lines of its traceback,
    where the error itself is.
    """
    longrepr = report.longrepr
    # str() of the repr, not ``report.longreprtext``: under xdist the latter starts
    # with a "[gw0] linux -- Python ..." line, and the report must not depend on xdist.
    text = (str(longrepr) if longrepr is not None else "").strip("\n")
    reprtraceback = getattr(longrepr, "reprtraceback", None)
    if getattr(reprtraceback, "style", None) == "value" or isinstance(longrepr, str):
        return bound_text(text)
    lines = text.splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = [
            _("... (the first {count} lines of the traceback are left out) ...").format(
                count=len(lines) - TRACEBACK_LINES
            ),
            *lines[-TRACEBACK_LINES:],
        ]
    return bound_text("\n".join(lines))


def skip_reason(report: pytest.TestReport) -> str:
    """Return the reason a skipped report gives."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
    return report.longreprtext.strip()


@dataclass
class TestScore:
    """One test's points and outcome."""

    __test__ = False  # not a pytest test class, despite its name

    nodeid: str
    points: float
    status: str = NOT_RUN
    output: str = ""
    duration: float = 0.0

    @property
    def exercise(self) -> str:
        """The exercise (module stem without ``test_``) this test belongs to."""
        return exercise_of(self.nodeid)

    @property
    def name(self) -> str:
        """The report name, starting with the exercise."""
        return test_name(self.nodeid)

    @property
    def counted(self) -> bool:
        """Whether the test counts towards ``max_score`` (skipped tests do not)."""
        return self.status != SKIPPED

    @property
    def max_score(self) -> float:
        """The points this test can earn in this run."""
        return self.points if self.counted else 0.0

    @property
    def score(self) -> float:
        """The points this test earned."""
        return self.points if self.status == PASSED else 0.0

    @property
    def final_status(self) -> str:
        """``passed``, ``failed`` or ``skipped``: a test that did not finish failed."""
        if self.status in (PASSED, FAILED, SKIPPED):
            return self.status
        return FAILED

    @property
    def final_output(self) -> str:
        """The learner-facing text, with a reason for tests that never finished."""
        if self.status == RUNNING:
            return _(
                "The test run ended while this test was running: it crashed or was "
                "stopped for taking too long."
            )
        if self.status == NOT_RUN:
            return _(
                "This test did not run: the test run ended before it (an earlier crash "
                "or time-out)."
            )
        return self.output


@dataclass
class ExerciseScore:
    """One exercise's points and test counts."""

    name: str
    score: float = 0.0
    max_score: float = 0.0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    tests: list[TestScore] = field(default_factory=list)


def _total(values: list[float]) -> float:
    # fsum, then round away the float dust of n/3 shares (6.666... * 3 == 20).
    return round(math.fsum(values), 6)


class Scoreboard:
    """Points earned and possible, per test and per exercise, for one run."""

    def __init__(self) -> None:
        self.tests: dict[str, TestScore] = {}
        #: Worth of each collected test, by node id (also for tests not yet reported).
        self.points: dict[str, float] = {}
        self._order: dict[str, int] = {}
        self.start_time: float | None = None

    # -- feeding -----------------------------------------------------------------
    def expect(self, worth: dict[str, float]) -> None:
        """Register collected tests and their worth, in collection order."""
        for nodeid, points in worth.items():
            self.points.setdefault(nodeid, points)
            self._order.setdefault(nodeid, len(self._order))
            if nodeid not in self.tests:
                self.tests[nodeid] = TestScore(nodeid, self.points[nodeid])

    def _test(self, nodeid: str, properties: list[tuple[str, object]] | None = None) -> TestScore:
        carried = points_from_properties(properties or [])
        if carried is not None:
            self.points[nodeid] = carried
        test = self.tests.get(nodeid)
        if test is None:
            self._order.setdefault(nodeid, len(self._order))
            test = TestScore(nodeid, self.points.get(nodeid, 0.0))
            self.tests[nodeid] = test
        elif carried is not None:
            test.points = carried
        return test

    def start(self, nodeid: str) -> None:
        """Mark a test as running (so a run that dies now blames it)."""
        test = self._test(nodeid)
        if test.status == NOT_RUN:
            test.status = RUNNING

    def record(self, report: pytest.TestReport) -> None:
        """Fold one setup/call/teardown report (or an xdist crash report) in."""
        test = self._test(report.nodeid, list(report.user_properties))
        test.duration += float(getattr(report, "duration", 0.0) or 0.0)
        wasxfail = hasattr(report, "wasxfail")
        if report.failed:
            reason = failure_text(report)
            when: str = report.when or ""
            if when not in ("setup", "call", "teardown"):
                # pytest-xdist's report for a test whose worker process died.
                reason = _("The test process crashed while running this test ({detail}).").format(
                    detail=reason
                )
            elif report.when == "setup":
                reason = _("The test could not be set up: {reason}").format(reason=reason)
            elif report.when == "teardown":
                reason = _("The test failed while cleaning up: {reason}").format(reason=reason)
            if test.status == FAILED and test.output:
                test.output = bound_text(f"{test.output}\n\n{reason}")
            else:
                test.output = reason
            test.status = FAILED
        elif report.skipped and not wasxfail:
            if test.status in (NOT_RUN, RUNNING):
                test.status = SKIPPED
                test.output = _("Not graded here: {reason}").format(reason=skip_reason(report))
        elif report.when == "call" or (report.skipped and wasxfail):
            # A passed call, an xfailed test (the expected failure happened) or a
            # non-strict xpass; a strict xpass is reported as failed above.
            if test.status in (NOT_RUN, RUNNING):
                test.status = PASSED
                note = note_from_properties(list(report.user_properties))
                if note:
                    test.output = bound_text(note)
        elif report.when == "teardown" and test.status == RUNNING:
            # Setup passed and the call never reported (should not happen): failed.
            test.status = FAILED
            test.output = _("The test reported no result.")

    # -- reading -----------------------------------------------------------------
    def ordered(self) -> list[TestScore]:
        """Every test, in collection order (the same with or without xdist)."""
        return sorted(self.tests.values(), key=lambda t: self._order.get(t.nodeid, 1 << 30))

    @property
    def score(self) -> float:
        """Points earned in the run."""
        return _total([t.score for t in self.tests.values()])

    @property
    def max_score(self) -> float:
        """Points possible in the run (skipped tests left out)."""
        return _total([t.max_score for t in self.tests.values()])

    def exercises(self) -> dict[str, ExerciseScore]:
        """Per-exercise points and counts, in order of first collected test."""
        result: dict[str, ExerciseScore] = {}
        for test in self.ordered():
            entry = result.setdefault(test.exercise, ExerciseScore(test.exercise))
            entry.tests.append(test)
            status = test.final_status
            if status == PASSED:
                entry.passed += 1
            elif status == SKIPPED:
                entry.skipped += 1
            else:
                entry.failed += 1
        for entry in result.values():
            entry.score = _total([t.score for t in entry.tests])
            entry.max_score = _total([t.max_score for t in entry.tests])
        return result


SCOREBOARD_KEY = pytest.StashKey[Scoreboard]()


def get_scoreboard(config: pytest.Config) -> Scoreboard:
    """Return the run's scoreboard (created on first use)."""
    board = config.stash.get(SCOREBOARD_KEY, None)
    if board is None:
        board = Scoreboard()
        config.stash[SCOREBOARD_KEY] = board
    return board
