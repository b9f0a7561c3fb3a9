"""Same submission, graded again and again: is the score always the same?

Grades one submission (by default a copy of ``solutions/``) ``--runs`` times with
``mpcheck grade --regrade``, first on an idle machine, then with one CPU-bound
process competing, and prints each score, the spread (max - min) and the time per
grade. A fair grader has a spread of 0 in both conditions. Figures only, never
pass/fail.

    python benchmarks/grading_stability.py [--runs 10] [--submission DIR] [--kit DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grade_once(
    submission: Path, kit: Path, out: Path, extra: list[str]
) -> tuple[dict[str, str], float]:
    start = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mpcheck.cli",
            "grade",
            str(submission),
            "--out",
            str(out),
            "--kit",
            str(kit),
            "--regrade",
            *extra,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - start
    with open(out, newline="") as handle:
        row = next(csv.DictReader(handle))
    return row, elapsed


def competitor() -> subprocess.Popen[bytes]:
    """One CPU-bound process: a pure Python busy loop."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions")
    parser.add_argument("--kit", type=Path, default=ROOT / "exercises")
    parser.add_argument("--timeout", default="600")
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        help="passed on to mpcheck grade (e.g. --pytest-arg=--mp-start-methods=fork)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mpcheck-stability-"))
    try:
        submission = work / "submission"
        shutil.copytree(args.submission, submission, ignore=shutil.ignore_patterns("__pycache__"))
        out = work / "grades.csv"
        extra = ["--timeout", args.timeout, *(f"--pytest-arg={a}" for a in args.pytest_arg)]
        print(f"{args.runs} gradings of {args.submission} per condition, kit {args.kit}")
        if args.pytest_arg:
            print(f"grading pytest given: {' '.join(args.pytest_arg)}")
        print(
            f"{'condition':<12} {'scores':<48} {'spread':>6} {'% spread':>8} {'s/grade':>8}"
            "  statuses"
        )
        for condition in ("idle", "1 CPU hog"):
            hog = competitor() if condition != "idle" else None
            try:
                scores: list[float] = []
                maxima: list[float] = []
                times: list[float] = []
                statuses: set[str] = set()
                per_exercise: dict[str, set[str]] = {}
                for _ in range(args.runs):
                    row, elapsed = grade_once(submission, args.kit, out, extra)
                    scores.append(float(row["score"]))
                    maxima.append(float(row["max_score"]))
                    times.append(elapsed)
                    statuses.add(row["status"])
                    for key, value in row.items():
                        if key.startswith("ex"):
                            per_exercise.setdefault(key, set()).add(value)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            shown = " ".join(f"{s:g}/{m:g}" for s, m in zip(scores, maxima, strict=True))
            spread = max(scores) - min(scores)
            # A test that cannot be judged on a busy machine leaves the maximum, so
            # the share of the maximum is what must not move.
            shares = [100 * s / m if m else 0.0 for s, m in zip(scores, maxima, strict=True)]
            share_spread = max(shares) - min(shares)
            print(
                f"{condition:<12} {shown:<48} {spread:>6g} {share_spread:>7.2f}% "
                f"{statistics.median(times):>8.1f}  "
                f"{', '.join(sorted(statuses))}"
            )
            varying = {k: sorted(v) for k, v in per_exercise.items() if len(v) > 1}
            if varying:
                print(f"{'':<12} exercises that varied: {varying}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
