"""``mpcheck status``: the five exercises, points, what passes, and what to do next.

Reads ``.mpcheck/last-run.json`` only (see :mod:`pytest_mpcheck.learner.progress`),
so it answers at once and never runs the tests.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Collection
from pathlib import Path

from pytest_mpcheck.i18n import _, ngettext
from pytest_mpcheck.learner.progress import (
    EXERCISES,
    POINTS_PER_EXERCISE,
    ExerciseResult,
    LastRun,
    ProgressFileError,
    read_last_run,
)
from pytest_mpcheck.learner.text import wrap

__all__ = [
    "exercise_file",
    "format_points",
    "format_status",
    "next_exercise",
    "progress_line",
    "status_command",
]

BAR_WIDTH = 20
FAILURE_LINES = 4


def exercise_file(root: Path, name: str, impl: str = "exercises") -> Path:
    """Return the path of exercise ``name``'s module under ``root``."""
    return root / impl / f"{name}.py"


def format_points(value: float) -> str:
    """Return ``20`` for 20.0 (or 20.000000000000004) and ``12.5`` for 12.5."""
    rounded = round(float(value), 1)
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:.1f}"


def next_exercise(
    run: LastRun | None, *, after: str | None = None, done: Collection[str] = ()
) -> str | None:
    """Return the first exercise that does not pass yet, or ``None`` when all pass.

    With ``after``, the search starts at the exercise that follows it (wrapping
    around), which is how ``mpcheck watch`` moves on. ``done`` adds exercises
    known to pass although the record does not say so.
    """
    order = list(EXERCISES)
    if after in order:
        start = order.index(after) + 1
        order = order[start:] + order[:start]
    for name in order:
        passing = run is not None and run.result(name).passing
        if not passing and name not in done:
            return name
    return None


def _totals(run: LastRun | None, done: Collection[str]) -> tuple[float, float, int]:
    earned = maximum = 0.0
    passing = 0
    for name in EXERCISES:
        res = run.result(name) if run is not None else ExerciseResult(name)
        ran = res.ran
        earned += res.earned if ran else 0.0
        maximum += res.max if ran else POINTS_PER_EXERCISE
        if res.passing or name in done:
            passing += 1
    return earned, maximum, passing


def progress_line(run: LastRun | None, *, done: Collection[str] = ()) -> str:
    """Return the one-line summary: a bar, points of the total, exercises done."""
    earned, maximum, passing = _totals(run, done)
    filled = round(BAR_WIDTH * passing / len(EXERCISES))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return _("[{bar}] {earned}/{maximum} points, {passing} of {total} exercises done").format(
        bar=bar,
        earned=format_points(earned),
        maximum=format_points(maximum),
        passing=passing,
        total=len(EXERCISES),
    )


def _state(res: ExerciseResult, changed: bool) -> str:
    if not res.ran:
        text = _("not run yet")
    elif res.passing:
        text = _("passing")
    else:
        total = res.passed + res.failed
        text = ngettext(
            "{failed} of {total} test failing", "{failed} of {total} tests failing", total
        ).format(failed=res.failed, total=total)
    if changed:
        text += "  " + _("(changed since it last ran)")
    return text


def _changed_since(path: Path, res: ExerciseResult) -> bool:
    try:
        return res.ran and path.stat().st_mtime > res.updated_at > 0
    except OSError:
        return False


def _first_lines(text: str, limit: int = FAILURE_LINES) -> list[str]:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > limit:
        lines = [*lines[:limit], "..."]
    return lines


def format_status(run: LastRun, root: Path) -> str:
    """Return the whole ``mpcheck status`` text for ``run``."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.updated_at))
    lines = [_("pytest-mpcheck: your progress (last run {when})").format(when=when)]
    if run.impl != "exercises":
        lines.append(_("(these are the results of {impl}/, not exercises/)").format(impl=run.impl))
    lines.append("")
    width = max(len(name) for name in EXERCISES)
    for name in EXERCISES:
        res = run.result(name)
        mark = "✓" if res.passing else ("✗" if res.ran else "·")
        points = res.earned if res.ran else 0.0
        maximum = res.max if res.ran else POINTS_PER_EXERCISE
        changed = _changed_since(exercise_file(root, name, run.impl), res)
        score = f"{format_points(points):>4}/{format_points(maximum)}"
        lines.append(f"  {mark} {name:<{width}}  {score:<8} {_state(res, changed)}")
    lines += ["", "  " + progress_line(run), ""]
    upcoming = next_exercise(run)
    if upcoming is None:
        lines.append(_("Every exercise passes. Well done!"))
        return "\n".join(lines)
    res = run.result(upcoming)
    shown = Path(run.impl, f"{upcoming}.py")
    lines.append(_("Next: {exercise} ({path})").format(exercise=upcoming, path=shown))
    if res.first_failure:
        lines.append(_("What failed first:"))
        lines += [wrap(line, indent="    ") for line in _first_lines(res.first_failure)]
    elif not res.ran:
        lines.append(_("Its tests have not run yet: run pytest exercises/ or mpcheck watch."))
    number = upcoming.split("_")[0]
    lines.append(
        _("Stuck? mpcheck hint {number}   Re-run on every save: mpcheck watch").format(
            number=number
        )
    )
    return "\n".join(lines)


def status_command(args: argparse.Namespace) -> int:
    """Print the status of the kit under ``args.root``; 0, or 1 when there is no run."""
    root: Path = args.root
    try:
        run = read_last_run(root)
    except ProgressFileError as exc:
        print(
            _(
                "The record of the last run cannot be read ({problem}): "
                "run pytest exercises/ again."
            ).format(problem=exc)
        )
        return 1
    if run is None:
        print(
            _(
                "No run recorded yet in {root}: run pytest exercises/ first "
                "(or mpcheck watch, which re-runs an exercise each time you save it)."
            ).format(root=root)
        )
        return 1
    print(format_status(run, root))
    return 0
