"""What ``process_group`` costs: start and join 4 processes, through it and bare.

For each start method, rounds alternate between bare ``multiprocessing`` (start 4
processes of the context, join them) and a :class:`~pytest_mpcheck.ProcessGroup`
doing the same plus everything the fixture does at teardown (descendant scan,
process-group kill, reaper registration). Prints the median of each, and the
overhead (the median of the per-round differences) in all and per process. The
goal: at most 5% or 2 ms per process more.

    python benchmarks/fixture_overhead.py [--rounds N] [--methods spawn,fork]

With ``PYTHONDONTWRITEBYTECODE`` set, every spawn or forkserver child compiles
``pytest_mpcheck/__init__.py`` and ``_bootstrap.py`` from source (about 5 ms each
child) where a normal install loads cached bytecode; the script says so.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable

# Only the standard library at the top: under spawn and forkserver every child
# imports this file again as ``__mp_main__``, and pytest_mpcheck's modules pull in
# pytest (~200 ms per child) that a test's own children would not pay twice.

N_PROCESSES = 4


def work() -> None:
    """The processes' target: nothing, so that start-up and join dominate."""


def bare(ctx: multiprocessing.context.BaseContext) -> float:
    start = time.perf_counter()
    procs = [ctx.Process(target=work) for _ in range(N_PROCESSES)]  # type: ignore[attr-defined]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    for p in procs:
        p.close()
    return elapsed


def grouped(ctx: multiprocessing.context.BaseContext) -> float:
    from pytest_mpcheck.processes import ProcessGroup

    start = time.perf_counter()
    group = ProcessGroup(ctx)
    procs = [group(work) for _ in range(N_PROCESSES)]
    for p in procs:
        p.join()
    group.close()
    return time.perf_counter() - start


def measure(method: str, rounds: int) -> tuple[list[float], list[float]]:
    ctx = multiprocessing.get_context(method)
    # Warm-up: the forkserver's server, the resource tracker, the reaper's watchdog,
    # imports in this process; none of it is per-test cost.
    for run in (bare, grouped):
        run(ctx)
    times: dict[Callable[..., float], list[float]] = {bare: [], grouped: []}
    for i in range(rounds):
        # Alternate the order so that drift in the machine's load hits both alike.
        order = (bare, grouped) if i % 2 == 0 else (grouped, bare)
        for run in order:
            times[run].append(run(ctx))
    return times[bare], times[grouped]


def main() -> None:
    from pytest_mpcheck.startmethods import available_methods

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--methods", default=",".join(available_methods()))
    args = parser.parse_args()
    print(f"start and join {N_PROCESSES} processes; median of {args.rounds} rounds each")
    if sys.flags.dont_write_bytecode:
        print("note: PYTHONDONTWRITEBYTECODE is set: children compile pytest_mpcheck from source")
    print(
        f"{'method':<11} {'bare ms':>9} {'group ms':>9} {'extra ms':>9} "
        f"{'per proc':>9} {'extra %':>8}  goal (<=5% or <=2 ms/process)"
    )
    for method in args.methods.split(","):
        bare_times, group_times = measure(method, args.rounds)
        b = statistics.median(bare_times) * 1000
        g = statistics.median(group_times) * 1000
        # The median of the per-round differences (each round runs both side by
        # side) is steadier on a busy machine than the difference of the medians.
        pairs = zip(bare_times, group_times, strict=True)
        extra = statistics.median(gt - bt for bt, gt in pairs) * 1000
        per = extra / N_PROCESSES
        pct = 100 * extra / b
        ok = "met" if pct <= 5 or per <= 2 else "MISSED"
        print(f"{method:<11} {b:9.1f} {g:9.1f} {extra:9.1f} {per:9.2f} {pct:7.1f}%  {ok}")


if __name__ == "__main__":
    main()
