"""The learner's progress on disk: ``.mpcheck/last-run.json`` and where the kit lives.

The kit writes the file at the end of every run of its tests (``pytest exercises/``,
or ``-k ex3_queue`` as ``mpcheck watch`` runs it); ``mpcheck status``, ``hint`` and
``watch`` read it. Everything the learner's loop needs is in it, so reading it is
instant and nothing is re-run. The schema (``"schema": 1``)::

    {
      "schema": 1,
      "impl": "exercises",                  # the implementation folder that ran
      "updated_at": 1796000000.0,           # time.time() of the last write
      "exercises": {
        "ex1_process": {
          "earned": 20.0, "max": 20.0,      # points (a skipped test adds no max)
          "passed": 3, "failed": 0, "skipped": 0,   # test counts
          "first_failure": null,            # learner-facing message of the first failure
          "first_failing_test": null,       # its test id
          "updated_at": 1796000000.0        # when this exercise last ran
        },
        ...
      }
    }

A run that selects only some exercises (``-k``) updates only those: the others
keep what the previous run said (see :func:`record_run`). The file is replaced
atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_mpcheck.exceptions import MpcheckError
from pytest_mpcheck.i18n import _

__all__ = [
    "EXERCISES",
    "POINTS_PER_EXERCISE",
    "SCHEMA_VERSION",
    "ExerciseResult",
    "LastRun",
    "ProgressFileError",
    "RunRecorder",
    "kit_root",
    "last_run_path",
    "read_last_run",
    "record_run",
    "resolve_exercise",
    "state_dir",
    "write_last_run",
]

EXERCISES = ("ex1_process", "ex2_pool", "ex3_queue", "ex4_manager", "ex5_speedup")
POINTS_PER_EXERCISE = 20.0
SCHEMA_VERSION = 1
STATE_DIR_NAME = ".mpcheck"
LAST_RUN_NAME = "last-run.json"


class ProgressFileError(MpcheckError):
    """``.mpcheck/last-run.json`` exists but cannot be read (damaged or of another schema)."""


@dataclass
class ExerciseResult:
    """What the last run said about one exercise."""

    name: str
    earned: float = 0.0
    max: float = POINTS_PER_EXERCISE
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    first_failure: str | None = None
    first_failing_test: str | None = None
    updated_at: float = 0.0

    @property
    def ran(self) -> bool:
        """Whether any test of this exercise ran."""
        return self.passed + self.failed + self.skipped > 0

    @property
    def passing(self) -> bool:
        """Whether the exercise is done: tests ran, none failed, at least one passed."""
        return self.failed == 0 and self.passed > 0

    def add_test(
        self,
        outcome: str,
        *,
        earned: float = 0.0,
        max_points: float = 0.0,
        message: str | None = None,
        test: str | None = None,
    ) -> None:
        """Count one test: ``outcome`` is ``passed``, ``failed`` or ``skipped``."""
        if outcome == "passed":
            self.passed += 1
        elif outcome == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            if self.first_failure is None:
                self.first_failure = message or ""
                self.first_failing_test = test
        self.earned += earned
        self.max += max_points

    @classmethod
    def from_json(cls, name: str, data: Any) -> ExerciseResult:
        """Build from the file's per-exercise object, tolerating missing keys."""
        if not isinstance(data, dict):
            raise ProgressFileError(f"the entry of {name} is not an object")
        try:
            return cls(
                name=name,
                earned=float(data.get("earned", 0.0)),
                max=float(data.get("max", POINTS_PER_EXERCISE)),
                passed=int(data.get("passed", 0)),
                failed=int(data.get("failed", 0)),
                skipped=int(data.get("skipped", 0)),
                first_failure=_optional_str(data.get("first_failure")),
                first_failing_test=_optional_str(data.get("first_failing_test")),
                updated_at=float(data.get("updated_at", 0.0)),
            )
        except (TypeError, ValueError) as exc:
            raise ProgressFileError(f"the entry of {name} is malformed: {exc}") from exc


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass
class LastRun:
    """The whole file: one :class:`ExerciseResult` per exercise that has ever run."""

    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    impl: str = "exercises"
    updated_at: float = 0.0

    def result(self, name: str) -> ExerciseResult:
        """Return the result of ``name`` (an empty, not-run one if it never ran)."""
        return self.exercises.get(name) or ExerciseResult(name)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object written to the file."""
        return {
            "schema": SCHEMA_VERSION,
            "impl": self.impl,
            "updated_at": self.updated_at,
            "exercises": {
                name: {k: v for k, v in asdict(res).items() if k != "name"}
                for name, res in sorted(self.exercises.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> LastRun:
        """Build from the file's JSON object."""
        if not isinstance(data, dict) or not isinstance(data.get("exercises", {}), dict):
            raise ProgressFileError("the file is not a pytest-mpcheck progress record")
        if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ProgressFileError(f"the file has schema {data.get('schema')!r}")
        exercises = {
            str(name): ExerciseResult.from_json(str(name), entry)
            for name, entry in data.get("exercises", {}).items()
        }
        return cls(
            exercises=exercises,
            impl=str(data.get("impl", "exercises")),
            updated_at=float(data.get("updated_at", 0.0) or 0.0),
        )


def resolve_exercise(text: str) -> str:
    """Return the exercise named by ``text``: ``3``, ``ex3``, ``ex3_queue``, ``queue``, a path.

    Raises :class:`ValueError` with a learner-facing sentence for anything else.
    """
    key = Path(text.strip()).name.lower().removesuffix(".py").removeprefix("test_")
    for name in EXERCISES:
        number, _sep, topic = name.partition("_")
        if key and key in (name, number, number[2:], topic):
            return name
    raise ValueError(
        _("unknown exercise {name!r}: choose one of {choices} (or just its number, 1 to 5)").format(
            name=text, choices=", ".join(EXERCISES)
        )
    )


def kit_root(start: Path | str | None = None) -> Path:
    """Return the kit root: the nearest of ``start`` and its parents holding ``exercises/``.

    Falls back to ``start`` itself (the current directory by default), so a learner
    can run ``mpcheck`` from the kit folder or from inside ``exercises/``.
    """
    begin = Path.cwd() if start is None else Path(start)
    begin = begin.resolve()
    for candidate in (begin, *begin.parents):
        if (candidate / "exercises").is_dir() or (candidate / STATE_DIR_NAME).is_dir():
            return candidate
    return begin


def state_dir(root: Path) -> Path:
    """Return ``root/.mpcheck`` (not created)."""
    return root / STATE_DIR_NAME


def last_run_path(root: Path) -> Path:
    """Return ``root/.mpcheck/last-run.json``."""
    return state_dir(root) / LAST_RUN_NAME


def read_last_run(root: Path) -> LastRun | None:
    """Return the last run recorded under ``root``, or ``None`` if there is none.

    Raises :class:`ProgressFileError` when the file exists but cannot be read.
    """
    path = last_run_path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProgressFileError(f"{path} cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProgressFileError(f"{path} is not valid JSON: {exc}") from exc
    return LastRun.from_json(data)


def write_json_atomically(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_last_run(root: Path, run: LastRun) -> Path:
    """Write ``run`` as ``root/.mpcheck/last-run.json`` (atomically); return the path."""
    path = last_run_path(root)
    write_json_atomically(path, run.to_json())
    return path


def record_run(
    root: Path, results: Iterable[ExerciseResult], *, impl: str = "exercises"
) -> LastRun:
    """Merge the exercises that ran into the recorded run and write it; return the merge.

    An exercise none of whose tests ran keeps its previous entry, so a ``-k``
    run of one exercise does not wipe the others. A run of another
    implementation folder than the recorded one starts the record afresh.
    """
    now = time.time()
    try:
        previous = read_last_run(root)
    except ProgressFileError:
        previous = None
    merged = previous if previous is not None and previous.impl == impl else LastRun(impl=impl)
    for res in results:
        if res.ran:
            res.updated_at = res.updated_at or now
            merged.exercises[res.name] = res
    merged.updated_at = now
    write_last_run(root, merged)
    return merged


class RunRecorder:
    """Collects test outcomes during a kit run, then writes them with :func:`record_run`.

    The kit calls :meth:`add` from ``pytest_runtest_logreport`` (or from its
    scoreboard) and :meth:`write` at ``pytest_sessionfinish``::

        recorder.add("ex3_queue", "failed", earned=0, max_points=5,
                     message=report.longreprtext, test=report.nodeid)
    """

    def __init__(self, impl: str = "exercises") -> None:
        self.impl = impl
        self._results: dict[str, ExerciseResult] = {}

    def add(
        self,
        exercise: str,
        outcome: str,
        *,
        earned: float = 0.0,
        max_points: float = 0.0,
        message: str | None = None,
        test: str | None = None,
    ) -> None:
        """Count one test of ``exercise`` (its points are added to the exercise's)."""
        res = self._results.get(exercise)
        if res is None:
            # Points come from the tests that ran, not from a fixed 20.
            res = self._results[exercise] = ExerciseResult(exercise, max=0.0)
        res.add_test(outcome, earned=earned, max_points=max_points, message=message, test=test)

    def results(self) -> list[ExerciseResult]:
        """Return what was collected, exercise by exercise."""
        return list(self._results.values())

    def write(self, root: Path) -> LastRun:
        """Merge what was collected into ``root/.mpcheck/last-run.json``."""
        return record_run(root, self.results(), impl=self.impl)
