"""The measurement protocol in-process: errors, clean-up, budget, picklable result."""

from __future__ import annotations

import pickle
from pathlib import Path

import psutil
import pytest

from pytest_mpcheck.speedup import measure_speedup, timing_lock
from pytest_mpcheck.speedup.cpus import CpuBudget

TWO = CpuBudget(2.0, (("cpu_count", 2.0),))


def spin(n: int = 200_000) -> int:
    return sum(i for i in range(n))


def test_an_error_in_the_code_propagates_and_leaves_nothing_behind(tmp_path: Path) -> None:
    lock = tmp_path / "timing.lock"
    before = {p.pid for p in psutil.Process().children(recursive=True)}

    def broken() -> None:
        raise ZeroDivisionError("learner bug")

    with pytest.raises(ZeroDivisionError, match="learner bug"):
        measure_speedup(spin, broken, lock_path=lock, cpus=TWO)
    # The reference helpers are gone and the lock is free again.
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert after <= before
    with timing_lock(lock, timeout=0.1) as waited:
        assert waited < 0.1


def test_the_budget_bounds_the_measurement(tmp_path: Path) -> None:
    m = measure_speedup(spin, spin, budget=0.5, lock_path=tmp_path / "l", cpus=TWO, reference=False)
    # Always the warm-up and one timed round; more only while the budget lasts.
    assert m.rounds[0].warmup
    assert len(m.timed_rounds) >= 1
    assert m.elapsed < 5
    assert m.reference_speedups == []
    assert pickle.loads(pickle.dumps(m)) == m


def test_fewer_than_two_cpus_measures_nothing(tmp_path: Path) -> None:
    one = CpuBudget(1.0, (("cpu_count", 2.0), ("affinity", 1.0)))
    calls = []
    m = measure_speedup(lambda: calls.append(1), spin, cpus=one, lock_path=tmp_path / "l")
    assert calls == []
    assert m.rounds == ()
    assert m.not_measured == "fewer than 2 effective CPUs (1 (cpu_count 2, affinity 1))"
