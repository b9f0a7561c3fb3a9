"""The kit's tests of ex1_process.py: start processes, then join them (20 points).

Run them with ``pytest exercises/test_ex1_process.py`` (or ``-k ex1_process``). Each test runs
once per start method (spawn, forkserver, fork); your code runs in a separate,
supervised process, and a failure says what to fix.
"""

from __future__ import annotations

import pytest

from pytest_mpcheck.kit import checks
from pytest_mpcheck.kit.plugin import Kit


@pytest.mark.points(4)
def test_worker_prints_its_number_and_pid(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``worker(num)`` prints one line holding ``num`` and the PID of the process running it."""
    checks.ex1_worker(mpcheck_kit)


@pytest.mark.points(6)
def test_start_workers_returns_finished_processes(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``start_workers(n)`` runs ``worker`` in n new processes, returned finished and in order."""
    checks.ex1_start_workers(mpcheck_kit)


@pytest.mark.points(10)
def test_start_workers_runs_the_processes_at_the_same_time(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """Every process runs while another one is running: all are started before any is joined.

    The kit passes its own ``target``, which records which other processes it saw
    running: code that starts and joins one process at a time leaves a record of
    processes that never saw another one."""
    checks.ex1_overlap(mpcheck_kit)
