"""How often the speedup verdict is right, idle and with a CPU-bound competitor.

Runs ``measure_speedup`` + ``judge`` on a correct 2-worker implementation and on
three serial ones (processes started and joined one by one, a one-worker pool, a
plain ``map``), N verdicts each, once on an idle machine and once with one
CPU-bound process competing, and prints a confusion table per condition and the
time per verdict. The goal (issue 4): the correct version is never failed, the
serial ones are never passed, and a verdict takes at most 5 s. The column
"of which credible parallel" counts the cannot-judge verdicts whose evidence the
kit's ex5 test would still award points to (``verdict.credible_parallel``).

    python benchmarks/speedup_verdicts.py [--verdicts 100] [--n 500000] [--method fork]

The machine-wide timing lock is used as in a real run, so the benchmark and any
concurrent speedup test wait for each other; the wait is reported, not counted in
the time per verdict. This is a figure-printing script, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter

from pytest_mpcheck.speedup import effective_cpus, judge, measure_speedup

DATA = [1, 2, 3, 4]
N = 1_000_000  # as the kit's ex5 speedup test


def heavy(x: int, n: int = N) -> int:
    """The ex5 work: CPU-bound, a Python loop."""
    return sum(i * x for i in range(n))


def run_serial(n: int) -> list[int]:
    """The serial reference."""
    return [heavy(x, n) for x in DATA]


def correct_pool2(method: str, n: int) -> list[int]:
    """Correct: a Pool of 2 workers."""
    with mp.get_context(method).Pool(2) as pool:
        return pool.map(functools.partial(heavy, n=n), DATA)


def started_then_joined(method: str, n: int) -> list[int]:
    """Serial: each process is joined before the next one starts."""
    ctx = mp.get_context(method)
    for x in DATA:
        proc = ctx.Process(target=heavy, args=(x, n))
        proc.start()
        proc.join()
    return []


def one_worker_pool(method: str, n: int) -> list[int]:
    """Serial: a Pool of 1 worker."""
    with mp.get_context(method).Pool(1) as pool:
        return pool.map(functools.partial(heavy, n=n), DATA)


def plain_map(method: str, n: int) -> list[int]:
    """Serial: no processes at all."""
    return list(map(functools.partial(heavy, n=n), DATA))


IMPLEMENTATIONS = {
    "correct Pool(2)": (correct_pool2, True),
    "started-then-joined": (started_then_joined, False),
    "one-worker pool": (one_worker_pool, False),
    "plain map": (plain_map, False),
}
KINDS = ("pass", "fail-serial", "cannot-judge")

COMPETITOR = "while True: pass"


def run_condition(name: str, verdicts: int, method: str, n: int) -> dict[str, object]:
    """Run every implementation ``verdicts`` times; print and return the table."""
    table: dict[str, Counter[str]] = {impl: Counter() for impl in IMPLEMENTATIONS}
    # Cannot-judge verdicts the kit would still award points to (credible_parallel).
    credible: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    times: list[float] = []
    per_impl: dict[str, list[float]] = {impl: [] for impl in IMPLEMENTATIONS}
    waits: list[float] = []
    serial = functools.partial(run_serial, n)
    done = 0
    try:
        for i in range(verdicts):
            for impl, (func, _) in IMPLEMENTATIONS.items():
                parallel = functools.partial(func, method, n)
                m = measure_speedup(serial, parallel)
                verdict = judge(m)
                times.append(m.elapsed)
                per_impl[impl].append(m.elapsed)
                waits.append(m.lock_wait)
                table[impl][verdict.kind] += 1
                if verdict.kind == "cannot-judge" and verdict.credible_parallel:
                    credible[impl] += 1
                if verdict.kind != "pass":
                    # The reason without its figures, to count the kinds of reasons.
                    why = verdict.message.split(":")[1 if verdict.kind == "cannot-judge" else 0]
                    reasons[f"{impl}: {verdict.kind}: {why.split(',')[0].strip()}"] += 1
            print(f"  {name}: {i + 1}/{verdicts} rounds of verdicts done", file=sys.stderr)
            done = i + 1
    except KeyboardInterrupt:
        # Ctrl-C: print the table of the verdicts done so far.
        print(f"  {name}: interrupted after {done} rounds of verdicts", file=sys.stderr)
        verdicts = done
    print(f"\n## {name} ({verdicts} verdicts per implementation, start method {method})\n")
    print(
        "| implementation | expected | "
        + " | ".join(KINDS)
        + " | of which credible parallel | median s/verdict |"
    )
    print("| --- | --- | " + " | ".join("---" for _ in KINDS) + " | --- | --- |")
    wrong = 0
    for impl, (_, good) in IMPLEMENTATIONS.items():
        counts = table[impl]
        expected = "pass" if good else "fail"
        row = " | ".join(str(counts.get(kind, 0)) for kind in KINDS)
        median_s = statistics.median(per_impl[impl])
        print(f"| {impl} | {expected} | {row} | {credible[impl]} | {median_s:.2f} |")
        wrong += counts["fail-serial"] if good else counts["pass"] + credible[impl]
    print(
        f"\ntime per verdict: median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s, over 5 s: {sum(t > 5.0 for t in times)} of {len(times)}; "
        f"lock wait median {statistics.median(waits):.2f} s (not counted)"
    )
    print(f"wrong verdicts (correct failed, or serial passed or credible): {wrong}")
    print("\nreasons given (other than pass):")
    for why, count in reasons.most_common():
        print(f"- {count} x {why}")
    return {"table": table, "times": times, "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run both conditions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verdicts", type=int, default=100, help="verdicts per implementation")
    parser.add_argument("--n", type=int, default=N, help="loop size of one task (4 tasks)")
    parser.add_argument("--method", default=mp.get_start_method(), help="start method")
    parser.add_argument("--conditions", default="idle,loaded", help="comma-separated: idle, loaded")
    parser.add_argument(
        "--only", default="", help="run only the implementations whose name contains this"
    )
    args = parser.parse_args(argv)
    if args.only:
        for name in list(IMPLEMENTATIONS):
            if args.only not in name:
                del IMPLEMENTATIONS[name]
    cpus = effective_cpus()
    print(f"# speedup verdicts: effective CPUs {cpus.describe()}, 4 tasks of heavy(x, {args.n})")
    start = time.perf_counter()
    serial_s = run_serial(args.n) and time.perf_counter() - start
    print(f"serial work: {serial_s:.2f} s")
    for condition in args.conditions.split(","):
        if condition == "idle":
            run_condition("idle", args.verdicts, args.method, args.n)
        elif condition == "loaded":
            # Started through a shell that exits at once, so the competitor is not a
            # descendant of this process: it competes like any other job on the machine.
            out = subprocess.run(
                ["sh", "-c", f"'{sys.executable}' -c '{COMPETITOR}' >/dev/null 2>&1 & echo $!"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            hog = int(out.strip())
            try:
                run_condition("one CPU-bound process competing", args.verdicts, args.method, args.n)
            finally:
                os.kill(hog, signal.SIGKILL)
        else:
            parser.error(f"unknown condition {condition!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
