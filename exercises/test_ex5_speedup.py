"""The kit's tests of ex5_speedup.py: serial against parallel, measured (20 points).

Run them with ``pytest exercises/test_ex5_speedup.py`` (or ``-k ex5_speedup``). Each test runs
once per start method (spawn, forkserver, fork); your code runs in a separate,
supervised process, and a failure says what to fix.
"""

from __future__ import annotations

import pytest

from pytest_mpcheck.kit import checks
from pytest_mpcheck.kit.plugin import Kit


@pytest.mark.points(8)
def test_run_parallel_gives_the_serial_results(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``heavy``, ``run_serial`` and ``run_parallel`` agree; ``run_parallel`` uses workers."""
    checks.ex5_results(mpcheck_kit)


@pytest.mark.points(4)
def test_compare_reports_consistent_figures(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``compare`` gives positive timings and ``speedup == serial_s / parallel_s``."""
    checks.ex5_compare(mpcheck_kit)


@pytest.mark.points(8)
def test_run_parallel_is_faster_than_run_serial(mpcheck_kit_once: Kit) -> None:
    """``run_parallel`` runs in several processes at once and is faster than ``run_serial``.

    Judged by the plugin's speedup verdict (what each process did, not only the clock);
    on a machine with fewer than 2 usable CPUs the test is skipped and not counted.
    It runs once, under the selected start method with the cheapest start-up: the
    other tests already check run_parallel under every method."""
    checks.ex5_speedup(mpcheck_kit_once)
