"""Wall time of ``pytest exercises/ --mpcheck-impl solutions``, per exercise and start method.

Runs the kit's tests once against the reference solutions in a separate pytest
process, reads each test's duration from a JUnit XML report, and prints the
wall time of the whole run and the sum of test durations per exercise and per
start method. Figures only; it never fails (the goal: at most 60 s in total on
a 2-core machine, aiming for 30).

    python benchmarks/kit_time.py [--impl solutions] [extra pytest args...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ("ex1_process", "ex2_pool", "ex3_queue", "ex4_manager", "ex5_speedup")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions", help="implementation folder")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp, "junit.xml")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "exercises/",
            "--mpcheck-impl",
            args.impl,
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={junit}",
            *extra,
        ]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        per_exercise: dict[str, float] = defaultdict(float)
        per_method: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        if junit.exists():
            for case in ET.parse(junit).iter("testcase"):
                seconds = float(case.get("time", 0.0))
                module = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
                found = re.search(r"\[(\w+)\]$", case.get("name", ""))
                per_exercise[module] += seconds
                per_method[found.group(1) if found else "?"] += seconds
                counts[module] += 1
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "(no output)"
    print(f"pytest exercises/ --mpcheck-impl {args.impl}: {summary}")
    print(f"load average before/after: {os.getloadavg()[0]:.1f} (1 min), cpus {os.cpu_count()}")
    print(f"{'exercise':<14}{'tests':>6}{'seconds':>10}")
    for name in EXERCISES:
        print(f"{name:<14}{counts.get(name, 0):>6}{per_exercise.get(name, 0.0):>10.1f}")
    print(f"{'start method':<14}{'':>6}{'seconds':>10}")
    for method, seconds in sorted(per_method.items()):
        print(f"{method:<14}{'':>6}{seconds:>10.1f}")
    print(f"{'total wall':<14}{'':>6}{wall:>10.1f}  (goal <= 60 s, aim 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
