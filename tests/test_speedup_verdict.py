"""The judge on hand-made measurements: every verdict kind, its message and figures."""

from __future__ import annotations

import pickle

import pytest

from pytest_mpcheck.speedup.cpus import CpuBudget
from pytest_mpcheck.speedup.measure import Round, SpeedupMeasurement
from pytest_mpcheck.speedup.sampler import RunEvidence
from pytest_mpcheck.speedup.verdict import (
    CANNOT_JUDGE,
    FAIL_SERIAL,
    PASS,
    classify,
    default_threshold,
    judge,
)

TWO = CpuBudget(2.0, (("cpu_count", 2.0), ("affinity", 2.0)))

PARALLEL = RunEvidence(0.30, 30, 0.52, 0.27, 0.24, 29, 27, 2, ((11, 0.26), (12, 0.25)), "schedstat")
SERIAL = RunEvidence(0.30, 30, 0.29, 0.28, 0.004, 29, 1, 1, ((11, 0.28),), "schedstat")
# A starved machine: each worker gets a few milliseconds now and then, so the
# windows they share are few (overlap 20 %), but as many as chance gives.
STARVED = RunEvidence(
    0.80, 40, 0.16, 0.12, 0.024, 30, 8, 2, ((11, 0.08), (12, 0.08)), "schedstat", 14, 15.0
)
# Two processes taking turns (apply in a loop): they coexist but rarely share a window.
TURNS = RunEvidence(
    0.50, 30, 0.14, 0.135, 0.005, 28, 2, 2, ((11, 0.07), (12, 0.065)), "schedstat", 1, 6.0
)
UNSEEN = RunEvidence(0.30, 30, 0.001, 0.001, 0.0, 0, 0, 0, (), "schedstat")


def _measure(
    evidence: RunEvidence,
    speedups: list[float],
    refs: list[float | None] | None = None,
    cpus: CpuBudget = TWO,
) -> SpeedupMeasurement:
    rounds = [Round(0, True, True, 0.3, 0.3, evidence, evidence)]
    refs = refs if refs is not None else [1.9] * len(speedups)
    for i, (s, ref) in enumerate(zip(speedups, refs, strict=True), start=1):
        single, pair = (0.04, 0.08 / ref) if ref else (None, None)
        rounds.append(Round(i, False, i % 2 == 1, 0.3 * s, 0.3, evidence, evidence, single, pair))
    return SpeedupMeasurement(cpus, tuple(rounds), elapsed=2.5, sample_method="schedstat")


def test_classify_runs() -> None:
    assert classify(PARALLEL) == "parallel"
    assert classify(SERIAL) == "serial"
    assert classify(UNSEEN) == "unclear"
    assert classify(STARVED) == "parallel"
    assert classify(TURNS) == "serial"
    assert STARVED.coincidence == pytest.approx(14 / 15)
    assert SERIAL.coincidence is None  # chance predicts too few shared windows to tell


def test_serial_on_a_starved_machine_is_still_serial() -> None:
    # The tree had a CPU for only 5 % of the wall time, one process at a time.
    starved = RunEvidence(3.0, 200, 0.16, 0.15, 0.002, 40, 0, 1, ((11, 0.15),), "schedstat")
    assert starved.coverage < 0.1
    assert classify(starved) == "unclear"
    # ...but it used as much CPU as the serial version needs: the sampler saw the work.
    assert classify(starved, serial_cpu=0.16) == "serial"
    # Work done outside this process tree is never taken for serial work.
    assert classify(SERIAL, serial_cpu=1.0) == "unclear"


def test_default_threshold_scales_with_cpus() -> None:
    assert default_threshold(2) == 1.25
    assert default_threshold(4) == 1.75
    assert default_threshold(1) == 1.25


def test_pass_reports_its_figures() -> None:
    verdict = judge(_measure(PARALLEL, [1.8, 1.7, 1.9]))
    assert verdict.kind == PASS
    assert verdict.passed
    assert verdict.decisive
    text = verdict.report()
    assert "ran in several processes at once and was 1.80 times as fast" in text
    assert "speedup: 1.80 (median; 1.70 to 1.90; timed rounds: 3)" in text
    assert "threshold: 1.25 (a quarter of the ideal gain on 2 CPUs" in text
    assert "effective CPUs: 2 (cpu_count 2, affinity 2)" in text
    assert "in 3 of 3 parallel runs" in text
    assert "reference burst (two known-good workers): speedup 1.90" in text


def test_serial_fails_even_when_timing_looks_good() -> None:
    # Under load serial code has measured 1.3-1.45 "speedups": evidence decides.
    verdict = judge(_measure(SERIAL, [1.5, 1.4]))
    assert verdict.kind == FAIL_SERIAL
    assert verdict.failed
    assert verdict.message.startswith("the parallel version ran one task after another")
    assert "in 2 of 2 runs only one process at a time was using a CPU" in verdict.message
    assert "its speedup was 1.45, threshold 1.25, but only by chance" in verdict.message


def test_a_warmup_that_looks_parallel_is_ignored() -> None:
    # Starting a forkserver or a pool for the first time can look like overlap.
    m = _measure(SERIAL, [1.5, 1.4])
    rounds = (Round(0, True, True, 0.3, 0.3, PARALLEL, PARALLEL), *m.rounds[1:])
    verdict = judge(SpeedupMeasurement(TWO, rounds))
    assert verdict.kind == FAIL_SERIAL
    assert "in 2 of 2 runs" in verdict.message
    # ...and it never lets serial code pass on lucky timing.
    m = _measure(SERIAL, [1.5])
    rounds = (Round(0, True, True, 0.3, 0.3, PARALLEL, PARALLEL), *m.rounds[1:])
    assert judge(SpeedupMeasurement(TWO, rounds)).kind == CANNOT_JUDGE


def test_one_serial_run_is_not_enough() -> None:
    verdict = judge(SpeedupMeasurement(TWO, (Round(0, True, True, 0.3, 0.3, SERIAL, SERIAL),)))
    assert verdict.kind == CANNOT_JUDGE
    assert not verdict.decisive
    # The warm-up is no evidence either way: a serial-looking one does not count.
    assert judge(_measure(SERIAL, [1.0])).kind == CANNOT_JUDGE


def test_a_single_parallel_run_blocks_fail_serial() -> None:
    m = _measure(SERIAL, [1.0, 1.0, 1.0])
    rounds = list(m.rounds)
    rounds[1] = Round(1, False, True, 0.3, 0.3, PARALLEL, PARALLEL, 0.04, 0.042)
    verdict = judge(SpeedupMeasurement(TWO, tuple(rounds)))
    assert verdict.kind == CANNOT_JUDGE


def test_parallel_but_slow_on_a_busy_machine_cannot_judge() -> None:
    verdict = judge(_measure(PARALLEL, [1.0, 1.1, 0.9], refs=[1.1, 1.0, 1.2]))
    assert verdict.kind == CANNOT_JUDGE
    assert verdict.message.startswith("cannot judge speedup here: the machine is too busy")
    assert "reached only 1.10 of an ideal 2.00" in verdict.message


def test_parallel_but_noisy_cannot_judge() -> None:
    verdict = judge(_measure(PARALLEL, [1.2, 1.1], refs=[1.8, 1.7]))
    assert verdict.kind == CANNOT_JUDGE
    assert "did not reach the threshold 1.25 (timed rounds: 2;" in verdict.message


def test_parallel_yet_never_faster_is_never_failed_on_timing() -> None:
    # A spawn Pool(2) started inside the timed region can eat a small workload's
    # gain even in a correct version: timing alone never fails.
    verdict = judge(_measure(PARALLEL, [0.8, 0.9, 0.85], refs=[1.9, 1.85, 1.95]))
    assert verdict.kind == CANNOT_JUDGE
    assert "did not reach the threshold 1.25 (timed rounds: 3;" in verdict.message


def test_work_the_sampler_cannot_see_passes_on_timing_only_when_clear() -> None:
    assert judge(_measure(UNSEEN, [1.8, 1.9, 1.85])).kind == PASS
    assert judge(_measure(UNSEEN, [1.8, 1.1, 1.85])).kind == CANNOT_JUDGE
    # ...and never fails on timing alone.
    assert judge(_measure(UNSEEN, [0.5, 0.6, 0.5])).kind == CANNOT_JUDGE
    # A busy machine makes timing worthless.
    assert judge(_measure(UNSEEN, [1.8, 1.9, 1.85], refs=[1.1, 1.1, 1.1])).kind == CANNOT_JUDGE


def test_min_speedup_is_the_threshold() -> None:
    verdict = judge(_measure(PARALLEL, [1.5, 1.6, 1.55]), min_speedup=1.7)
    assert verdict.kind == CANNOT_JUDGE
    assert verdict.threshold == 1.7
    assert "threshold: 1.70 (asked for)" in verdict.report()


def test_not_measured_is_cannot_judge() -> None:
    one = CpuBudget(1.0, (("cpu_count", 2.0), ("affinity", 1.0)))
    verdict = judge(
        SpeedupMeasurement(one, not_measured="fewer than 2 effective CPUs (1 (affinity 1))")
    )
    assert verdict.kind == CANNOT_JUDGE
    assert verdict.message == (
        "cannot judge speedup here: fewer than 2 effective CPUs (1 (affinity 1))"
    )
    assert "speedup: not measured" in verdict.report()


@pytest.mark.parametrize("evidence", [PARALLEL, SERIAL])
def test_measurement_and_verdict_pickle(evidence: RunEvidence) -> None:
    m = _measure(evidence, [1.5, 1.6])
    again = pickle.loads(pickle.dumps(m))
    assert again == m
    assert pickle.loads(pickle.dumps(judge(m))) == judge(m)


def test_ran_in_parallel_is_the_evidence_without_the_timing() -> None:
    # Parallel, the same CPU time as the serial version, but too slow on a busy machine.
    busy = judge(_measure(PARALLEL, [1.0, 1.1, 0.9], refs=[1.1, 1.0, 1.2]))
    assert busy.kind == CANNOT_JUDGE
    assert busy.busy
    assert busy.work_ratio == pytest.approx(1.0)
    assert busy.ran_in_parallel
    assert busy.top_share == pytest.approx(0.26 / 0.52)
    assert (
        "work: the parallel version used 1.00 times the serial version's CPU time, its busiest"
        " process 50% of it"
    ) in str(busy)
    # Not faster on an idle machine: timing never fails it, and the evidence still holds.
    idle = judge(_measure(PARALLEL, [1.1, 1.0], refs=[1.9, 1.9]))
    assert idle.kind == CANNOT_JUDGE
    assert not idle.busy
    assert idle.ran_in_parallel
    # Serial evidence, a single timed run or work the sampler cannot see: not shown parallel.
    assert not judge(_measure(SERIAL, [1.0, 1.1])).ran_in_parallel
    assert not judge(_measure(PARALLEL, [1.1])).ran_in_parallel
    assert not judge(_measure(UNSEEN, [1.1, 1.2, 1.0])).ran_in_parallel


def test_workers_that_each_redo_all_the_work_did_not_run_it_in_parallel() -> None:
    # Both workers compute the whole list: two processes busy at once, so it looks
    # parallel, but twice the serial version's CPU time is the work done twice.
    twice = RunEvidence(
        0.30, 30, 0.58, 0.29, 0.28, 29, 28, 2, ((11, 0.29), (12, 0.29)), "schedstat"
    )
    rounds = [Round(0, True, True, 0.3, 0.3, SERIAL, twice)]
    for i in range(1, 4):
        rounds.append(Round(i, False, i % 2 == 1, 0.3, 0.3, SERIAL, twice, 0.04, 0.08 / 1.1))
    verdict = judge(SpeedupMeasurement(TWO, tuple(rounds)))
    assert verdict.kind == CANNOT_JUDGE
    assert verdict.work_ratio == pytest.approx(0.58 / 0.29)
    assert not verdict.ran_in_parallel
    assert verdict.top_share == pytest.approx(1.0)
    assert "work: the parallel version used 2.00 times the serial version's CPU time" in str(
        verdict
    )
    assert verdict.balance == pytest.approx(1.0)
    assert (
        "and they used 2.0 times the serial version's CPU time: does every worker redo all the"
        " work?"
    ) in verdict.message


def _against_serial(parallel: RunEvidence, speedups: list[float]) -> SpeedupMeasurement:
    rounds = [Round(0, True, True, 0.3, 0.3, SERIAL, parallel)]
    for i, speedup in enumerate(speedups, start=1):
        rounds.append(
            Round(i, False, i % 2 == 1, 0.3 * speedup, 0.3, SERIAL, parallel, 0.04, 0.08 / 1.1)
        )
    return SpeedupMeasurement(TWO, tuple(rounds))


def test_a_helper_that_only_spins_beside_serial_work_is_not_parallel_work() -> None:
    # The calling process does all the work (0.29 s, as the serial version) while a
    # helper burns a little CPU in every window: busy at once, but nothing shared.
    spinner = RunEvidence(
        0.30, 30, 0.33, 0.29, 0.04, 29, 29, 2, ((11, 0.29), (12, 0.04)), "schedstat", 28, 28.0
    )
    assert classify(spinner) == "parallel"
    verdict = judge(_against_serial(spinner, [1.0, 1.05, 1.0]))
    assert verdict.parallel_evidence
    assert verdict.work_ratio == pytest.approx(0.33 / 0.29)
    assert not verdict.ran_in_parallel
    assert not verdict.credible_parallel
    assert verdict.balance == pytest.approx(0.04 / 0.29)
    assert (
        "one process alone used 100% of the serial version's CPU time: does one process do all"
        " the work while the others only keep busy?"
    ) in verdict.message


def test_work_done_where_the_sampler_cannot_see_is_not_shown_parallel() -> None:
    # Two light processes overlap while the real work runs outside this process tree.
    decoys = RunEvidence(
        0.30, 30, 0.06, 0.03, 0.03, 29, 29, 2, ((11, 0.03), (12, 0.03)), "schedstat", 28, 28.0
    )
    verdict = judge(_against_serial(decoys, [1.3, 1.2, 1.1]))
    assert verdict.parallel_evidence
    assert verdict.work_ratio is not None
    assert verdict.work_ratio < 0.7
    assert not verdict.ran_in_parallel
    assert not verdict.credible_parallel


def test_credible_parallel_needs_timing_that_does_not_contradict_the_evidence() -> None:
    # Busy machine: the reference gained nothing either, so timing tells nothing and
    # the evidence decides, even for a parallel run slower than the serial one.
    assert judge(_measure(PARALLEL, [1.0, 1.1, 1.05], refs=[1.1, 1.0, 1.2])).credible_parallel
    assert judge(_measure(PARALLEL, [0.8, 0.9, 0.85], refs=[0.95, 1.0, 1.05])).credible_parallel
    # Idle machine (reference 1.9): some gain is credible, short of the threshold...
    short = judge(_measure(PARALLEL, [1.1, 1.2, 1.1], refs=[1.9, 1.9, 1.9]))
    assert short.kind == CANNOT_JUDGE
    assert short.credible_parallel
    # ...none is not: the machine gave parallelism and this code did not use it.
    flat = judge(_measure(PARALLEL, [1.0, 1.04, 1.0], refs=[1.9, 1.9, 1.9]))
    assert flat.kind == CANNOT_JUDGE
    assert flat.ran_in_parallel
    assert not flat.credible_parallel
    # Without a reference burst the machine is not known to be busy.
    assert judge(_measure(PARALLEL, [1.2, 1.1], refs=[None, None])).credible_parallel
    assert not judge(_measure(PARALLEL, [1.0, 1.0], refs=[None, None])).credible_parallel
    # Serial evidence is never credible, whatever the timing.
    assert not judge(_measure(SERIAL, [1.5, 1.4])).credible_parallel
