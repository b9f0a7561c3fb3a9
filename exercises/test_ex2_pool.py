"""The kit's tests of ex2_pool.py: Pool.map over CPU-bound work (20 points).

Run them with ``pytest exercises/test_ex2_pool.py`` (or ``-k ex2_pool``). Each test runs
once per start method (spawn, forkserver, fork); your code runs in a separate,
supervised process, and a failure says what to fix.
"""

from __future__ import annotations

import pytest

from pytest_mpcheck.kit import checks
from pytest_mpcheck.kit.plugin import Kit


@pytest.mark.points(3)
def test_fib_is_the_recursive_fibonacci(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``fib(0) == 0``, ``fib(1) == 1``, ``fib(20) == 6765``."""
    checks.ex2_fib(mpcheck_kit)


@pytest.mark.points(7)
def test_parallel_map_shares_the_work_between_workers(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """Results come back in input order, computed by at least two worker processes at once.

    The kit passes its own ``func``, which records the worker's PID and whether a
    task of another worker was running at the same time."""
    checks.ex2_parallel_map(mpcheck_kit)


@pytest.mark.points(4)
def test_parallel_map_passes_exceptions_to_the_caller(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """An exception raised by ``func`` in a worker reaches the caller; no worker is left."""
    checks.ex2_exception(mpcheck_kit)


@pytest.mark.points(6)
def test_parallel_fib_computes_in_worker_processes(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``parallel_fib`` gives the right numbers from a Pool, under every start method
    (a lambda or nested function cannot be sent to a worker)."""
    checks.ex2_parallel_fib(mpcheck_kit)
