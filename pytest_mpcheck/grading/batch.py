"""Grading a whole class: each submission with the kit's own tests, in isolation.

For each submission folder, pytest runs the kit's tests (never the submission's) in a
child process of its own session, from an empty working folder, with a configuration
file and root folder chosen here, so nothing inside the submission (``conftest.py``,
``pytest.ini``, test files, a ``pytest.py`` shadowing pytest, plugins) is ever loaded
by the grading pytest. The report is written into that private folder and copied
beside the submission only once every process of the run is gone, so a submission
cannot write its own ``results.json``. Each run has a time limit; afterwards its
session and every descendant are killed.

Fair timing: tests whose file matches the *exclusive* pattern (the speedup
measurements) run in a second pytest run that has the machine to itself, never while
another submission is being graded; the rest of each submission runs alongside at
most ``jobs`` others, and ``jobs`` is capped by the effective CPUs.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import fnmatch
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from pytest_mpcheck import proctree, reaper
from pytest_mpcheck.grading.report import write_json_atomic
from pytest_mpcheck.i18n import _

__all__ = [
    "CSV_COLUMNS",
    "EXERCISES",
    "GradeResult",
    "Grader",
    "GradingInterrupted",
    "effective_jobs",
    "find_kit",
    "merge_reports",
    "read_rows",
]

EXERCISES = ("ex1_process", "ex2_pool", "ex3_queue", "ex4_manager", "ex5_speedup")
CSV_COLUMNS = ("submission", "score", "max_score", *EXERCISES, "status")
RESULTS_NAME = "results.json"
DEFAULT_TIMEOUT = 600.0
DEFAULT_EXCLUSIVE = "*speedup*"
#: Environment variables of the instructor's shell that would change how pytest runs.
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP", "PYTHONINSPECT")

_PR_SET_CHILD_SUBREAPER = 36
#: Runs of one phase that may hit the time limit before its unfinished tests are
#: given up (a run that dies quickly is always followed by one for the rest, since
#: each such run finishes at least the test it died in).
MAX_TIMEOUTS = 2
NOT_RUN_OUTCOME = "not run"
SKIPPED_OUTCOME = "skipped"
PASSED_OUTCOME = "passed"
FAILED_OUTCOME = "failed"
#: More runs, alone on the machine, of tests worth points that could not be judged.
DEFAULT_RETRY_SKIPPED = 2
RUNNING_OUTCOME = "running"


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux), so none escapes the kill.

    A submission's process that double-forks out of its tree and its session would
    otherwise be re-parented to init and survive; as a subreaper the grader finds it
    among its own children and ends it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def find_kit(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the kit's tests folder: ``explicit``, ``./exercises`` or the project's.

    Raises ``FileNotFoundError`` with one clear sentence when there is none.
    """
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(Path(explicit))
    else:
        candidates.append(Path.cwd() / "exercises")
        candidates.append(Path(__file__).resolve().parents[2] / "exercises")
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("test_*.py")):
            return candidate.resolve()
    raise FileNotFoundError(
        _("No kit tests found in {path}: give the kit's exercises folder with --kit.").format(
            path=candidates[0]
        )
    )


def effective_jobs(requested: int) -> tuple[int, float]:
    """Return the jobs to run at once (at most the effective CPUs) and those CPUs."""
    try:
        from pytest_mpcheck.speedup.cpus import effective_cpus

        cpus = float(effective_cpus({}).effective)
    except Exception:  # the speedup part may be absent or fail: fall back to affinity
        try:
            cpus = float(len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            cpus = float(os.cpu_count() or 1)
    return max(1, min(requested, math.floor(cpus))), cpus


class _SharedExclusiveLock:
    """Many shared holders or one exclusive holder; a waiting exclusive one goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextlib.contextmanager
    def shared(self) -> Any:
        with self._cond:
            while self._exclusive or self._waiting_exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Any:
        with self._cond:
            self._waiting_exclusive += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class GradingInterrupted(Exception):
    """Grading was stopped (Ctrl-C) before this submission was done."""


@dataclass
class RunOutcome:
    """How one pytest run of a submission ended."""

    report: dict[str, Any] | None
    returncode: int | None
    timed_out: bool
    duration: float
    stderr_tail: str = ""
    leftovers: int = 0


@dataclass
class GradeResult:
    """One submission's grade: the CSV row and the report written beside it."""

    submission: str
    score: float
    max_score: float
    exercises: dict[str, float]
    status: str
    duration: float = 0.0
    report: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        """Return the CSV row."""
        row = {
            "submission": self.submission,
            "score": _fmt(self.score),
            "max_score": _fmt(self.max_score),
            "status": self.status,
        }
        for name in EXERCISES:
            row[name] = _fmt(self.exercises.get(name, 0.0))
        return row


def _fmt(value: float) -> str:
    rounded = round(value, 2)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.2f}"


def _nodeid(test: dict[str, Any]) -> str:
    extra = test.get("extra_data")
    if isinstance(extra, dict) and isinstance(extra.get("nodeid"), str):
        return str(extra["nodeid"])
    return str(test.get("name", ""))


def _extra(test: dict[str, Any]) -> dict[str, Any]:
    extra = test.get("extra_data")
    return extra if isinstance(extra, dict) else {}


def _outcome(test: dict[str, Any]) -> str:
    return str(_extra(test).get("outcome", ""))


def _exercise_of_test(test: dict[str, Any]) -> str:
    extra = test.get("extra_data")
    if isinstance(extra, dict) and isinstance(extra.get("exercise"), str):
        return str(extra["exercise"])
    return str(test.get("name", "")).split(":", 1)[0].strip()


def _points_decorator(node: ast.expr) -> float | None:
    """``n`` of a ``@pytest.mark.points(n)`` (or ``@mark.points(n)``) decorator."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    if node.func.attr != "points" or len(node.args) != 1:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, (int, float)):
        return float(arg.value)
    return None


def kit_points(kit: Path) -> dict[str, float]:
    """Return each exercise's points as the kit's test files declare them (read, not run).

    Used when a submission's run produced no report at all, so that its row still
    says what was possible.
    """
    totals: dict[str, float] = {}
    for path in sorted(Path(kit).glob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        exercise = path.stem[len("test_") :]
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test"
            ):
                for decorator in node.decorator_list:
                    value = _points_decorator(decorator)
                    if value is not None:
                        totals[exercise] = totals.get(exercise, 0.0) + value
                        break
    return totals


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge Gradescope reports of the phases of one submission into one report."""
    tests: list[dict[str, Any]] = []
    for report in reports:
        tests.extend(report.get("tests", []))
    score = round(math.fsum(float(t.get("score", 0)) for t in tests), 4)
    max_score = round(math.fsum(float(t.get("max_score", 0)) for t in tests), 4)
    execution_time = round(math.fsum(float(r.get("execution_time", 0)) for r in reports), 2)
    return {
        "score": int(score) if score == int(score) else score,
        "max_score": int(max_score) if max_score == int(max_score) else max_score,
        "execution_time": execution_time,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def exercise_scores(report: dict[str, Any]) -> dict[str, float]:
    """Return the points earned per exercise in a Gradescope report."""
    scores: dict[str, float] = {}
    for test in report.get("tests", []):
        name = _exercise_of_test(test)
        scores[name] = scores.get(name, 0.0) + float(test.get("score", 0))
    return {name: round(value, 4) for name, value in scores.items()}


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    """Return the complete rows of an existing grades CSV, by submission (else empty)."""
    rows: dict[str, dict[str, str]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return rows
    for row in csv.DictReader(io.StringIO(text)):
        if all(row.get(col) not in (None, "") for col in CSV_COLUMNS):
            rows[row["submission"]] = {col: row[col] for col in CSV_COLUMNS}
    return rows


def write_rows(path: Path, rows: Iterable[dict[str, str]]) -> None:
    """Write the grades CSV atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Grader:
    """Grades submissions with the kit's tests; see the module docstring."""

    def __init__(
        self,
        kit: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        exclusive: str = DEFAULT_EXCLUSIVE,
        python: str | None = None,
        extra_args: Sequence[str] = (),
        log: Callable[[str], None] | None = None,
        jobs: int = 1,
        retry_skipped: int = DEFAULT_RETRY_SKIPPED,
    ) -> None:
        self.kit = Path(kit).resolve()
        self.jobs = jobs
        self.retry_skipped = retry_skipped
        self.timeout = timeout
        self.exclusive_pattern = exclusive
        self.python = python or sys.executable
        self.extra_args = list(extra_args)
        self.log = log or (lambda line: None)
        self._lock = _SharedExclusiveLock()
        self._active: set[int] = set()
        self._active_lock = threading.Lock()
        self.subreaper = become_subreaper()
        self.stopped = threading.Event()

    def stop(self) -> None:
        """Stop grading: end every running pytest; unfinished submissions get no row."""
        self.stopped.set()
        with self._active_lock:
            active = list(self._active)
        for pid in active:
            with contextlib.suppress(psutil.Error, OSError):
                proctree.kill_session(pid, timeout=2.0)
                proctree.kill_tree([pid], timeout=2.0)

    # -- the phases -----------------------------------------------------------
    def phases(self) -> list[tuple[list[Path], bool]]:
        """Return the kit's test files split into (shared, exclusive) phases.

        Grading one submission at a time, nothing else of ours runs alongside, so one
        run of every file is enough (and saves a pytest start-up per submission).
        """
        files = sorted(self.kit.glob("test_*.py"))
        if self.jobs <= 1:
            return [(files, True)] if files else []
        exclusive = [f for f in files if fnmatch.fnmatch(f.name, self.exclusive_pattern)]
        shared = [f for f in files if f not in exclusive]
        phases: list[tuple[list[Path], bool]] = []
        if shared:
            phases.append((shared, False))
        if exclusive:
            phases.append((exclusive, True))
        return phases

    def command(self, files: Sequence[str], submission: Path, report: Path, ini: Path) -> list[str]:
        """Return the pytest command line that grades ``submission`` on ``files``."""
        return [
            self.python,
            "-m",
            "pytest",
            *files,
            f"--mpcheck-impl={submission}",
            f"--mpcheck-report={report}",
            "--mpcheck-report-format=gradescope",
            "-c",
            str(ini),
            f"--rootdir={self.kit}",
            f"--confcutdir={self.kit}",
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-o",
            "addopts=",
            *self.extra_args,
        ]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        # The empty working folder is the first sys.path entry of ``python -m``; safe
        # path (3.11+) drops it altogether. No bytecode litter in the submission.
        env["PYTHONSAFEPATH"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTEST_XDIST_WORKER", None)
        env.pop("PYTEST_XDIST_WORKER_COUNT", None)
        return env

    def _run(self, files: Sequence[str], submission: Path, workdir: Path, tag: str) -> RunOutcome:
        """Run one pytest phase for ``submission``; kill whatever it leaves."""
        # The run's working folder sits three empty levels below the private folder
        # that holds the report, the configuration and the log, so code that writes or
        # wipes files in "." and ".." (or "../..") finds nothing of ours there.
        private = workdir / "private"
        private.mkdir(exist_ok=True)
        report_path = private / f"report-{tag}.json"
        ini = private / "mpcheck-grade.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        run_dir = workdir / f"jail-{tag}" / "a" / "b" / "c"
        run_dir.mkdir(parents=True)
        log_path = private / f"pytest-{tag}.log"
        start = time.monotonic()
        timed_out = False
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                self.command(files, submission, report_path, ini),
                cwd=run_dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            with self._active_lock:
                self._active.add(proc.pid)
            # If the grader itself is killed (even SIGKILL), the run's session and
            # every descendant go with it.
            with contextlib.suppress(Exception):
                reaper.watch(proc.pid)
            try:
                proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            except BaseException:
                self._end(proc)
                raise
            leftovers = self._end(proc)
        duration = time.monotonic() - start
        report: dict[str, Any] | None = None
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(report_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("tests"), list):
                report = loaded
        tail = ""
        with contextlib.suppress(OSError):
            tail = log_path.read_bytes()[-2000:].decode("utf-8", "replace")
        return RunOutcome(report, proc.returncode, timed_out, duration, tail, leftovers)

    def _end(self, proc: subprocess.Popen[bytes]) -> int:
        """Kill ``proc``'s session and tree, and any orphan adopted meanwhile."""
        killed = proctree.kill_tree([proc.pid], timeout=5.0)
        killed += proctree.kill_session(proc.pid, timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        with self._active_lock:
            self._active.discard(proc.pid)
        killed += self._reap_orphans()
        return len({info.pid for info in killed if info.pid != proc.pid})

    def _reap_orphans(self) -> list[proctree.ProcessInfo]:
        """Kill our children that are not a running pytest (orphans of ended runs)."""
        if not self.subreaper:
            return []
        with self._active_lock:
            active = set(self._active)
        with contextlib.suppress(Exception):
            active |= reaper.helper_pids()  # the watchdog is ours, not an orphan
        strays = []
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process().children():
                if child.pid not in active:
                    strays.append(child)
        killed = proctree.kill_tree(strays, timeout=5.0) if strays else []
        for child in strays:  # collect the zombies: we are their parent now
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(child.pid, os.WNOHANG)
        return killed

    def _grade_phase(
        self,
        name: str,
        submission: Path,
        workdir: Path,
        index: int,
        files: Sequence[Path],
        exclusive: bool,
        problems: list[str],
    ) -> dict[str, Any] | None:
        """Run one phase; if the run died early, run its unfinished tests again.

        The kit runs a submission's code in sandboxed children, so a submission should
        never end the pytest run itself; if it does anyway (or the run hits its time
        limit), the tests that never ran get their own run, so each exercise is still
        graded on its own. The test that was running when the run died stays failed.
        """
        merged: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        targets: list[str] = [str(f) for f in files]
        elapsed = 0.0
        timeouts = 0
        attempt = -1
        previous_unfinished: int | None = None
        while True:
            attempt += 1
            lock = self._lock.exclusive() if exclusive else self._lock.shared()
            with lock:
                if self.stopped.is_set():
                    raise GradingInterrupted(name)
                outcome = self._run(targets, submission, workdir, f"{index}-{attempt}")
            if self.stopped.is_set():
                raise GradingInterrupted(name)
            if outcome.leftovers:
                self.log(
                    _("{name}: killed {count} process(es) left behind").format(
                        name=name, count=outcome.leftovers
                    )
                )
            if outcome.timed_out:
                timeouts += 1
                problems.append(
                    _("timeout: a run stopped after {seconds:.0f} s").format(seconds=self.timeout)
                )
            elif outcome.report is None:
                last = outcome.stderr_tail.strip().splitlines()[-1:] or [""]
                problems.append(
                    _("error: pytest ended with code {code} and no report ({last})").format(
                        code=outcome.returncode, last=last[0][:200]
                    )
                )
            if outcome.report is None:
                break
            elapsed += float(outcome.report.get("execution_time", 0.0) or 0.0)
            for test in outcome.report["tests"]:
                nodeid = _nodeid(test)
                if nodeid not in merged:
                    order.append(nodeid)
                merged[nodeid] = test
            unfinished = [n for n in order if _outcome(merged[n]) == NOT_RUN_OUTCOME]
            died = [t for t in outcome.report["tests"] if _outcome(t) == RUNNING_OUTCOME]
            if not (unfinished or died):
                if outcome.returncode not in (0, 1, 5):
                    problems.append(
                        _("crashed: pytest ended with code {code}").format(code=outcome.returncode)
                    )
                break
            problems.append(
                _("crashed: a test run ended early (exit code {code})").format(
                    code=outcome.returncode
                )
            )
            if not unfinished or timeouts >= MAX_TIMEOUTS:
                break
            if previous_unfinished is not None and len(unfinished) >= previous_unfinished:
                break  # no progress: give the rest up rather than loop
            previous_unfinished = len(unfinished)
            # The same files again, keeping only the unfinished tests: the plugin drops
            # the others after sharing out the points, so each test keeps its worth.
            only = workdir / "private" / f"only-{index}-{attempt}.txt"
            only.write_text("".join(f"{n}\n" for n in unfinished), encoding="utf-8")
            targets = [str(f) for f in files] + [f"--mpcheck-only={only}"]
        if not merged:
            return None
        tests = [merged[n] for n in order]
        return merge_reports([{"tests": tests, "execution_time": elapsed}])

    def _retry_unjudged(
        self, name: str, submission: Path, workdir: Path, report: dict[str, Any]
    ) -> None:
        """Run again, alone on the machine, tests worth points that were skipped.

        A speedup verdict is skipped ("cannot judge here") when the machine is too busy
        to tell; left at that, the same submission would be graded out of 100 one time
        and out of 92 the next. Up to ``retry_skipped`` more runs, with no other
        grading alongside, give it the quieter machine a verdict needs.
        """
        for attempt in range(self.retry_skipped):
            skipped = [
                t
                for t in report["tests"]
                if _outcome(t) == SKIPPED_OUTCOME and float(_extra(t).get("points", 0) or 0) > 0
            ]
            if not skipped:
                return
            only = workdir / "private" / f"retry-{attempt}.txt"
            only.parent.mkdir(exist_ok=True)
            only.write_text("".join(f"{_nodeid(t)}\n" for t in skipped), encoding="utf-8")
            files = sorted({str(self.kit / _nodeid(t).split("::", 1)[0]) for t in skipped})
            with self._lock.exclusive():
                if self.stopped.is_set():
                    raise GradingInterrupted(name)
                outcome = self._run(
                    [*files, f"--mpcheck-only={only}"], submission, workdir, f"retry-{attempt}"
                )
            if self.stopped.is_set():
                raise GradingInterrupted(name)
            if outcome.report is None:
                return
            fresh = {
                _nodeid(t): t
                for t in outcome.report["tests"]
                if _outcome(t) in (PASSED_OUTCOME, FAILED_OUTCOME)
            }
            report["tests"] = [fresh.get(_nodeid(t), t) for t in report["tests"]]

    # -- one submission ---------------------------------------------------------
    def grade(self, submission: Path, name: str | None = None) -> GradeResult:
        """Grade one submission folder; write ``results.json`` beside it; never raise."""
        submission = Path(submission)
        name = name or submission.name
        start = time.monotonic()
        if not submission.is_dir():
            return GradeResult(
                name, 0.0, 0.0, {}, _("error: {path} is not a folder").format(path=submission)
            )
        submission = submission.resolve()
        self.log(_("{name}: grading...").format(name=name))
        # A results.json the submission brought along must never pass for a grade.
        with contextlib.suppress(OSError):
            (submission / RESULTS_NAME).unlink()
        reports: list[dict[str, Any]] = []
        problems: list[str] = []
        workdir = Path(tempfile.mkdtemp(prefix="mpcheck-grade-"))
        try:
            for index, (files, exclusive) in enumerate(self.phases()):
                report = self._grade_phase(
                    name, submission, workdir, index, files, exclusive, problems
                )
                if report is not None:
                    reports.append(report)
            merged = merge_reports(reports)
            self._retry_unjudged(name, submission, workdir, merged)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        status = "; ".join(dict.fromkeys(problems)) if problems else "ok"
        # An exercise none of whose tests reported (its run never started, say) is
        # still listed, failed, with the reason, so the maximum is what was possible.
        present = {_exercise_of_test(t) for t in merged["tests"]}
        for exercise, points in kit_points(self.kit).items():
            if exercise not in present and points > 0:
                merged["tests"].append(
                    {
                        "name": _("{exercise}: not graded").format(exercise=exercise),
                        "score": 0,
                        "max_score": points,
                        "status": "failed",
                        "output": _("The tests of this exercise did not run: {reason}").format(
                            reason=status
                        ),
                        "visibility": "visible",
                        "extra_data": {"exercise": exercise, "outcome": NOT_RUN_OUTCOME},
                    }
                )
        merged = merge_reports([merged])
        unjudged = math.fsum(
            float(_extra(t).get("points", 0) or 0)
            for t in merged["tests"]
            if _outcome(t) == SKIPPED_OUTCOME
        )
        if unjudged > 0:
            status += _("; {points} points not judged here").format(points=_fmt(unjudged))
        merged["output"] = status if problems else ""
        with contextlib.suppress(OSError):
            write_json_atomic(submission / RESULTS_NAME, merged)
        return GradeResult(
            name,
            float(merged["score"]),
            float(merged["max_score"]),
            exercise_scores(merged),
            status,
            duration=time.monotonic() - start,
            report=merged,
        )
