"""``mpcheck grade`` and ``mpcheck gradescope-bundle``: the instructor's commands."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pytest_mpcheck.grading.batch import (
    DEFAULT_EXCLUSIVE,
    DEFAULT_RETRY_SKIPPED,
    DEFAULT_TIMEOUT,
    Grader,
    GradeResult,
    GradingInterrupted,
    effective_jobs,
    find_kit,
    read_rows,
    write_rows,
)
from pytest_mpcheck.i18n import _


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(_("expected a whole number of 1 or more"))
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(_("expected a number of seconds above 0"))
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``grade`` and ``gradescope-bundle``."""
    grade = subparsers.add_parser(
        "grade",
        help=_("grade submission folders with the kit's tests into a CSV"),
        description=_(
            "Grade each submission folder with the kit's own tests, in isolation and "
            "with a time limit; write one CSV row per submission and a results.json "
            "beside each. Submissions already in the CSV are not graded again."
        ),
    )
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION_DIR")
    grade.add_argument("--out", required=True, metavar="CSV", help=_("the grades CSV to write"))
    grade.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help=_("submissions graded at once (at most the effective CPUs)"),
    )
    grade.add_argument("--kit", default=None, help=_("the kit's exercises folder (its tests)"))
    grade.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help=_("time limit of each pytest run of a submission, in seconds"),
    )
    grade.add_argument(
        "--exclusive",
        default=DEFAULT_EXCLUSIVE,
        metavar="GLOB",
        help=_("kit test files that measure time, run with the machine to themselves"),
    )
    grade.add_argument(
        "--regrade", action="store_true", help=_("grade again submissions already in the CSV")
    )
    grade.add_argument(
        "--retry-skipped",
        type=int,
        default=DEFAULT_RETRY_SKIPPED,
        metavar="N",
        help=_("runs again, alone on the machine, of tests worth points that could not be judged"),
    )
    grade.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        metavar="ARG",
        help=_(
            "one more argument for the grading pytest, e.g. --pytest-arg=--mp-start-methods=fork"
        ),
    )
    grade.set_defaults(func=grade_command)

    bundle = subparsers.add_parser(
        "gradescope-bundle",
        help=_("write a Gradescope autograder.zip"),
        description=_(
            "Write autograder.zip (setup.sh, run_autograder, this project and the kit) "
            "to upload as a Gradescope programming assignment's autograder."
        ),
    )
    bundle.add_argument("--out", default="autograder.zip", help=_("the zip file to write"))
    bundle.add_argument("--kit", default=None, help=_("the kit's exercises folder (its tests)"))
    bundle.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help=_("time limit of each pytest run of a submission, in seconds"),
    )
    bundle.set_defaults(func=bundle_command)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops grading as Ctrl-C does: runs killed, finished rows kept."""
    raise KeyboardInterrupt


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _names(paths: list[str]) -> list[tuple[str, Path]] | str:
    """Return (name, path) per submission, or a one-sentence error."""
    seen: dict[str, str] = {}
    result = []
    for raw in paths:
        path = Path(raw)
        name = path.resolve().name or raw
        if name in seen and seen[name] != raw:
            return _("Two submissions share the folder name {name!r}: {a} and {b}.").format(
                name=name, a=seen[name], b=raw
            )
        if name in seen:
            continue
        seen[name] = raw
        result.append((name, path))
    return result


def grade_command(args: argparse.Namespace) -> int:
    """Grade the submissions; return 0 when every row is written, 130 if interrupted."""
    try:
        kit = find_kit(args.kit)
    except FileNotFoundError as error:
        _say(str(error))
        return 2
    out = Path(args.out)
    if not out.parent.resolve().is_dir():
        _say(_("The folder of --out {path} does not exist.").format(path=out))
        return 2
    named = _names(args.submissions)
    if isinstance(named, str):
        _say(named)
        return 2
    rows = read_rows(out)
    jobs, cpus = effective_jobs(args.jobs)
    if jobs < args.jobs:
        _say(
            _(
                "Grading {jobs} at once, not {asked}: this machine has {cpus:g} effective CPUs."
            ).format(jobs=jobs, asked=args.jobs, cpus=cpus)
        )
    todo = []
    for name, path in named:
        if name in rows and not args.regrade:
            _say(
                _("{name}: already graded ({score}/{max}), skipped").format(
                    name=name, score=rows[name]["score"], max=rows[name]["max_score"]
                )
            )
            continue
        todo.append((name, path))
    grader = Grader(
        kit,
        timeout=args.timeout,
        exclusive=args.exclusive,
        log=_say,
        jobs=jobs,
        extra_args=args.pytest_arg,
        # With fewer than 2 CPUs a speedup can never be judged here: no point retrying.
        retry_skipped=max(0, args.retry_skipped) if cpus >= 2 else 0,
    )
    total = len(todo)
    done = 0
    started = time.monotonic()

    def finish(result: GradeResult) -> None:
        nonlocal done
        done += 1
        rows[result.submission] = result.row()
        write_rows(out, rows.values())
        _say(
            _("[{done}/{total}] {name}: {score}/{max} ({status}) in {seconds:.1f} s").format(
                done=done,
                total=total,
                name=result.submission,
                score=result.row()["score"],
                max=result.row()["max_score"],
                status=result.status,
                seconds=result.duration,
            )
        )

    if total:
        _say(
            _("Grading {total} submission(s), {jobs} at once, with the kit in {kit}").format(
                total=total, jobs=jobs, kit=kit
            )
        )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        futures = {pool.submit(grader.grade, path, name): name for name, path in todo}
        for future in concurrent.futures.as_completed(futures):
            with contextlib.suppress(GradingInterrupted):
                finish(future.result())
    except KeyboardInterrupt:
        grader.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        _say(
            _(
                "Interrupted: {done} of {total} graded and saved in {out}; run again to resume."
            ).format(done=done, total=total, out=out)
        )
        return 130
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        signal.signal(signal.SIGTERM, previous)
    if not rows:
        write_rows(out, [])
    if total:
        minutes = (time.monotonic() - started) / 60
        _say(
            _("Done: {total} graded in {minutes:.1f} min; grades in {out}").format(
                total=total, minutes=minutes, out=out
            )
        )
    return 0


def bundle_command(args: argparse.Namespace) -> int:
    """Write the Gradescope autograder zip."""
    from pytest_mpcheck.grading.bundle import BundleError, write_bundle

    try:
        kit = find_kit(args.kit)
        path = write_bundle(Path(args.out), kit=kit, timeout=args.timeout)
    except (FileNotFoundError, BundleError) as error:
        _say(str(error))
        return 2
    _say(
        _("Wrote {path}: upload it as the autograder of a Gradescope assignment.").format(path=path)
    )
    return 0
