"""The machine-wide timing lock: one measurement at a time, across processes."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_mpcheck.speedup.lock import LockUnavailable, default_lock_path, timing_lock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pytest_mpcheck.speedup.lock import timing_lock
    with timing_lock(sys.argv[1], timeout=30):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)

RECORDER = textwrap.dedent(
    """
    import sys, time
    from pytest_mpcheck.speedup.lock import timing_lock
    with timing_lock(sys.argv[1], timeout=60):
        start = time.monotonic()
        time.sleep(0.3)
        end = time.monotonic()
    print(start, end, flush=True)
    """
)


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_default_path_is_in_the_temp_dir() -> None:
    assert default_lock_path().name == "pytest-mpcheck-timing.lock"


def test_a_second_process_waits_then_gets_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "timing.lock"
    holder = _hold(path, 1.0)
    try:
        with timing_lock(path, timeout=30) as waited:
            # The holder had it for about a second after saying "held".
            assert waited > 0.3
            assert holder.wait(5) == 0
    finally:
        holder.kill()
        holder.wait(5)


def test_a_bounded_wait_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "timing.lock"
    holder = _hold(path, 20.0)
    try:
        with pytest.raises(LockUnavailable) as info, timing_lock(path, timeout=0.3):
            pass
        assert f"pid {holder.pid}" in str(info.value)
        assert "more than 0.3 s" in str(info.value)
    finally:
        holder.kill()
        holder.wait(5)
    # Once the holder is gone (even killed), the lock is free at once.
    with timing_lock(path, timeout=5) as waited:
        assert waited < 5


def test_measurements_from_two_processes_never_overlap(tmp_path: Path) -> None:
    path = tmp_path / "timing.lock"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RECORDER, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    spans = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        start, end = map(float, out.split())
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans


def test_reentrant_within_one_process(tmp_path: Path) -> None:
    path = tmp_path / "timing.lock"
    with timing_lock(path, timeout=1), timing_lock(path, timeout=1) as inner:
        assert inner == 0.0
    # Released entirely: another process gets it at once.
    holder = _hold(path, 0.0)
    holder.wait(10)


def test_lock_released_when_the_body_raises(tmp_path: Path) -> None:
    path = tmp_path / "timing.lock"
    with pytest.raises(RuntimeError), timing_lock(path, timeout=1):
        raise RuntimeError("boom")
    start = time.monotonic()
    holder = _hold(path, 0.0)
    holder.wait(10)
    assert time.monotonic() - start < 10
