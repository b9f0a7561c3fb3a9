"""The measurement protocol in-process: errors, clean-up, budget, picklable result."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

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


class FakeClock:
    """A perf_counter that moves only when the code under measurement says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("budget", "serial_s", "parallel_s", "timed"),
    [
        # 0.3 s warm-up + 0.7 s a round: a 6th would pass the soft limit (0.8 x 5 s).
        (5.0, 0.4, 0.3, 5),
        # The second round fits (1.0 + 1.15 x 0.7 <= 2.0); a third would not.
        (2.0, 0.4, 0.3, 2),
        # Two timed rounds are measured whatever they cost; nothing after them.
        (1.0, 0.8, 0.6, 2),
        (3.0, 1.0, 0.2, 2),
    ],
)
def test_the_budget_is_never_overrun_after_the_second_round(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    budget: float,
    serial_s: float,
    parallel_s: float,
    timed: int,
) -> None:
    fake = FakeClock()
    monkeypatch.setattr("pytest_mpcheck.speedup.clock.perf_counter", fake)
    m = measure_speedup(
        lambda: fake.work(serial_s),
        lambda: fake.work(parallel_s),
        budget=budget,
        lock_path=tmp_path / "l",
        cpus=TWO,
        reference=False,
    )
    # Work this process's sampler cannot see is never decisive: only the budget stops it.
    assert m.stopped_because == "budget spent"
    assert len(m.timed_rounds) == timed
    assert m.elapsed == pytest.approx(parallel_s + timed * (serial_s + parallel_s))
    two_rounds_end = parallel_s + 2 * (serial_s + parallel_s)
    assert m.elapsed <= max(budget, two_rounds_end)


@pytest.mark.parametrize(("parallel_runs", "serial_runs", "timed"), [(0, 1, 16), (1, 0, 15)])
def test_one_round_of_grace_only_for_evidence_that_leans_serial(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parallel_runs: int,
    serial_runs: int,
    timed: int,
) -> None:
    fake = FakeClock()
    monkeypatch.setattr("pytest_mpcheck.speedup.clock.perf_counter", fake)
    leaning = SimpleNamespace(decisive=False, runs_parallel=parallel_runs, runs_serial=serial_runs)
    monkeypatch.setattr("pytest_mpcheck.speedup.verdict.judge", lambda *a, **k: leaning)
    # 0.25 s warm-up + 0.5 s a round, budget 10 s: the 16th round would pass the soft
    # limit (7.75 + 0.575 > 8) but fits into the budget; only serial-leaning evidence
    # gets it, and only that one (without the limit, rounds would go on to the 19th).
    m = measure_speedup(
        lambda: fake.work(0.25),
        lambda: fake.work(0.25),
        budget=10.0,
        lock_path=tmp_path / "l",
        cpus=TWO,
        reference=False,
    )
    assert len(m.timed_rounds) == timed
    assert m.elapsed <= 10.0


def test_fewer_than_two_cpus_measures_nothing(tmp_path: Path) -> None:
    one = CpuBudget(1.0, (("cpu_count", 2.0), ("affinity", 1.0)))
    calls = []
    m = measure_speedup(lambda: calls.append(1), spin, cpus=one, lock_path=tmp_path / "l")
    assert calls == []
    assert m.rounds == ()
    assert m.not_measured == "fewer than 2 effective CPUs (1 (cpu_count 2, affinity 1))"
