"""Speedup verdicts that stay right on a noisy machine: ``assert_speedup`` and its parts.

- :mod:`.clock`: clocks captured at import, out of reach of code under test;
- :mod:`.cpus`: effective CPUs (cpu count, affinity, cgroup quota, xdist share);
- :mod:`.lock`: the machine-wide timing lock;
- :mod:`.sampler`: CPU use of the process tree, sampled from outside the code;
- :mod:`.measure`: the protocol (warm-up, interleaved rounds, reference, budget);
- :mod:`.verdict`: the judge;
- :mod:`.assertion`: ``assert_speedup``; :mod:`.plugin`: options and the fixture.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from pytest_mpcheck.speedup import clock  # first: capture the clocks before anything else
from pytest_mpcheck.speedup.assertion import assert_speedup, raise_for_verdict
from pytest_mpcheck.speedup.cpus import CpuBudget, effective_cpus
from pytest_mpcheck.speedup.lock import LockUnavailable, timing_lock
from pytest_mpcheck.speedup.measure import Round, SpeedupMeasurement, measure_speedup
from pytest_mpcheck.speedup.sampler import RunEvidence
from pytest_mpcheck.speedup.verdict import SpeedupVerdict, Verdict, judge

__all__ = [
    "CpuBudget",
    "LockUnavailable",
    "Round",
    "RunEvidence",
    "SpeedupMeasurement",
    "SpeedupVerdict",
    "Verdict",
    "assert_speedup",
    "clock",
    "effective_cpus",
    "judge",
    "measure_speedup",
    "raise_for_verdict",
    "timing_lock",
]
