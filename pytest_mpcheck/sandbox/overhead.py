"""Print the fixed cost of one sandboxed call, per start method.

``python -m pytest_mpcheck.sandbox.overhead [CALLS]``: runs a trivial scenario
(import a one-line module, return its file) CALLS times under each start method
and prints the median and the spread in milliseconds, then the same for a call
that starts and joins two processes. A figure, never a pass/fail test.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_mpcheck.sandbox.supervisor import run_call
from pytest_mpcheck.startmethods import available_methods

_MODULE = """\
import multiprocessing


def worker(num):
    pass


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs
"""


def _measure(impl: str, scenario: str, args: tuple[object, ...], method: str, calls: int) -> str:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        outcome = run_call(impl, "ex1_process", scenario, args, start_method=method, timeout=60)
        times.append((time.perf_counter() - start) * 1000)
        if not outcome.ok:
            return f"failed: {outcome.status} {outcome.reason}"
    times.sort()
    return (
        f"median {statistics.median(times):6.0f} ms   "
        f"min {times[0]:5.0f}   max {times[-1]:5.0f}   ({calls} calls)"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the figures; the optional argument is the number of calls per method."""
    args = sys.argv[1:] if argv is None else argv
    calls = int(args[0]) if args else 10
    with tempfile.TemporaryDirectory() as impl:
        Path(impl, "ex1_process.py").write_text(_MODULE)
        run_call(
            impl,
            "ex1_process",
            "pytest_mpcheck.sandbox.scenarios:nothing",
            start_method="spawn",
            timeout=60,
        )  # warm-up (asks site paths once)
        for method in available_methods():
            print(
                f"{method:10s} trivial call    ",
                _measure(impl, "pytest_mpcheck.sandbox.scenarios:nothing", (), method, calls),
            )
            print(
                f"{method:10s} start+join 2    ",
                _measure(
                    impl, "pytest_mpcheck.sandbox.scenarios:ex1_exitcodes", (2,), method, calls
                ),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
