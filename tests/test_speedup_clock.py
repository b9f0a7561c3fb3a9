"""The clocks are captured at import: patching ``time`` later changes nothing."""

from __future__ import annotations

import time

import pytest

from pytest_mpcheck.speedup import clock
from pytest_mpcheck.speedup.sampler import TreeSampler


def test_captured_clocks_are_the_interpreters_own() -> None:
    assert clock.CLOCKS_TRUSTED
    assert clock.perf_counter is time.perf_counter
    assert clock.monotonic is time.monotonic


def test_patching_time_does_not_reach_the_captured_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(time, "monotonic", lambda: 0.0)
    monkeypatch.setattr(time, "process_time", lambda: 0.0)
    before = clock.perf_counter()
    mono = clock.monotonic()
    busy = clock.process_time()
    while clock.process_time() - busy < 0.02:
        pass
    assert clock.perf_counter() - before >= 0.02
    assert clock.monotonic() > mono
    # The sampler's windows are measured on the captured clock too.
    with TreeSampler(0.005) as sampler:
        start = clock.process_time()
        while clock.process_time() - start < 0.05:
            pass
    evidence = sampler.evidence()
    # A patched monotonic clock (always 0.0) would make every window empty.
    assert evidence.wall >= 0.04
    assert evidence.samples >= 2


def test_sampler_leaves_out_its_own_thread() -> None:
    # Nothing runs in the measured region: whatever the sampler itself costs in CPU
    # must not show up as this process doing work.
    with TreeSampler(0.002) as sampler:
        time.sleep(0.2)
    evidence = sampler.evidence()
    assert evidence.samples >= 10
    assert evidence.cpu_total < 0.02, evidence
