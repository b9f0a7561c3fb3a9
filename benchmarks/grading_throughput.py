"""Submissions graded per minute by ``mpcheck grade`` with ``--jobs 1`` and ``--jobs 2``.

Grades ``--copies`` copies of the reference solutions (20 by default) with each
``--jobs`` value and prints wall time, submissions per minute, and the scores seen
(every copy should get the same). Figures only, never pass/fail.

    python benchmarks/grading_throughput.py [--copies 20] [--jobs 1 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _show_losses(submission: Path) -> None:
    """Print the tests that lost points in one submission's results.json."""
    path = submission / "results.json"
    try:
        tests = json.loads(path.read_text())["tests"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"       {submission.name}: no results.json to explain it ({exc})")
        return
    for test in tests:
        if test.get("score") != test.get("max_score"):
            first = str(test.get("output", "")).strip().splitlines()[:3]
            print(f"       {submission.name}: {test['name']}: {' / '.join(first)[:300]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions")
    parser.add_argument("--kit", type=Path, default=ROOT / "exercises")
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        help="passed on to mpcheck grade (e.g. --pytest-arg=--mp-start-methods=fork)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mpcheck-throughput-"))
    try:
        print(f"{args.copies} copies of {args.submission}, kit {args.kit}")
        if args.pytest_arg:
            print(f"grading pytest given: {' '.join(args.pytest_arg)}")
        print(f"{'jobs':>4} {'wall s':>8} {'subs/min':>9} {'s/sub':>7}  scores")
        for jobs in args.jobs:
            folder = work / f"jobs{jobs}"
            subs = []
            for i in range(args.copies):
                sub = folder / f"copy{i:02d}"
                shutil.copytree(args.submission, sub, ignore=shutil.ignore_patterns("__pycache__"))
                subs.append(str(sub))
            out = folder / "grades.csv"
            start = time.monotonic()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest_mpcheck.cli",
                    "grade",
                    *subs,
                    "--out",
                    str(out),
                    "--kit",
                    str(args.kit),
                    "--jobs",
                    str(jobs),
                    *(f"--pytest-arg={a}" for a in args.pytest_arg),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
            wall = time.monotonic() - start
            with open(out, newline="") as handle:
                rows = list(csv.DictReader(handle))
            scores = Counter(f"{r['score']}/{r['max_score']} {r['status']}" for r in rows)
            capped = [line for line in done.stderr.splitlines() if "at once, not" in line]
            per_minute = len(rows) / wall * 60
            per_sub = wall / max(1, len(rows))
            note = f"  ({capped[0]})" if capped else ""
            print(
                f"{jobs:>4} {wall:>8.1f} {per_minute:>9.2f} {per_sub:>7.1f}  {dict(scores)}{note}"
            )
            for row in rows:
                if row["score"] != row["max_score"]:
                    _show_losses(Path(row["submission"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
