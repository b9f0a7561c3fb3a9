"""The measurement protocol: warm-up, interleaved rounds, a reference, a budget.

``measure_speedup`` runs anywhere (the pytest process, a pytest-xdist worker, a
sandbox child) and returns a picklable :class:`SpeedupMeasurement`; ``judge`` in
:mod:`pytest_mpcheck.speedup.verdict` turns it into a verdict. The protocol:

1. Give up at once (nothing measured, reason given) on fewer than 2 effective
   CPUs or when the machine-wide timing lock cannot be had in time.
2. Warm-up: one parallel run (first pool, forkserver, imports in fresh workers).
   Its timing is discarded; what the sampler saw counts only as evidence of
   serial execution (start-up can look like overlap).
3. Rounds: a reference burst (a known-good parallel job run alone and as a pair,
   so a busy machine is seen as busy), then the serial and the parallel run in
   alternating order, each paired run giving one speedup figure.
4. After each round the verdict is computed; measuring stops as soon as it is
   decisive, or when another round would not fit into the time budget. Two timed
   rounds are always measured (a failure needs two runs of evidence); after them
   the budget is a hard limit, predicted from the slowest round so far: rounds
   stop at :data:`SOFT_SHARE` of it, and one more round fits into the rest only
   when the evidence so far points to serial execution (the failure it may
   settle is worth more than a skip).

Every clock read here is one captured at import (:mod:`.clock`).

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mpcheck.speedup import clock
from pytest_mpcheck.speedup.cpus import CpuBudget, effective_cpus
from pytest_mpcheck.speedup.lock import DEFAULT_LOCK_TIMEOUT, LockUnavailable, timing_lock
from pytest_mpcheck.speedup.sampler import EMPTY_EVIDENCE, RunEvidence, TreeSampler

__all__ = ["DEFAULT_BUDGET", "Round", "SpeedupMeasurement", "measure_speedup"]

#: Seconds of wall time one measurement aims to stay within (the lock wait aside).
DEFAULT_BUDGET = 5.0
DEFAULT_SAMPLE_INTERVAL = 0.01
MAX_ROUNDS = 20
#: Timed rounds measured whenever they fit into the budget (one run decides nothing).
MIN_TIMED_ROUNDS = 2
#: Share of the budget after which no new round starts, unless the evidence leans
#: serial; the rest is kept for that one round of grace.
SOFT_SHARE = 0.8
#: A round is predicted to cost this much more than the slowest timed round so far
#: (a competing job can slow the next one down).
ROUND_COST_MARGIN = 1.15
#: A descendant that used at least this much CPU per wall second while the serial
#: version ran, and at least BACKGROUND_SHARE of its rate during the parallel run,
#: is background work (a helper some fixture started), not the parallel version's.
BACKGROUND_MIN_RATE = 0.02
BACKGROUND_SHARE = 0.2
#: The reference burst's size: about this long for one worker alone.
REFERENCE_TARGET_S = 0.04


@dataclass(frozen=True)
class Round:
    """One serial run and one parallel run (plus a reference burst), side by side."""

    index: int
    warmup: bool
    serial_first: bool
    serial_s: float
    parallel_s: float
    serial_evidence: RunEvidence
    parallel_evidence: RunEvidence
    reference_single_s: float | None = None
    reference_pair_s: float | None = None

    @property
    def speedup(self) -> float:
        """Serial wall time over parallel wall time in this round."""
        return self.serial_s / self.parallel_s if self.parallel_s > 0 else float("inf")

    @property
    def reference_speedup(self) -> float | None:
        """How much faster two reference workers did twice the work (ideal 2.0)."""
        if not self.reference_single_s or not self.reference_pair_s:
            return None
        return 2 * self.reference_single_s / self.reference_pair_s


@dataclass(frozen=True)
class SpeedupMeasurement:
    """Everything measured, picklable, for :func:`~pytest_mpcheck.speedup.verdict.judge`.

    ``not_measured`` is the reason nothing was measured (too few CPUs, the lock
    not available), else ``None``.
    """

    cpus: CpuBudget
    rounds: tuple[Round, ...] = ()
    not_measured: str | None = None
    budget: float = DEFAULT_BUDGET
    elapsed: float = 0.0
    lock_wait: float = 0.0
    clocks_trusted: bool = True
    sample_method: str = "none"
    stopped_because: str = ""
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def timed_rounds(self) -> tuple[Round, ...]:
        """The rounds whose timings count (warm-up left out)."""
        return tuple(r for r in self.rounds if not r.warmup)

    @property
    def speedups(self) -> list[float]:
        """One speedup figure per timed round."""
        return [r.speedup for r in self.timed_rounds]

    @property
    def reference_speedups(self) -> list[float]:
        """The reference burst's speedup per round that has one."""
        return [s for r in self.rounds if (s := r.reference_speedup) is not None]


_REFERENCE_CODE = r"""
import sys
r = sys.stdin.buffer
w = sys.stdout.buffer
w.write(b"r")
w.flush()
while True:
    b = r.read(4)
    if len(b) < 4:
        break
    n = int.from_bytes(b, "little")
    x = 0
    for i in range(n):
        x += i
    w.write(b"k")
    w.flush()
"""


class _Reference:
    """Two idle helper processes that run a fixed CPU-bound loop on demand.

    Timed alone and as a pair, they show how much parallelism the machine gives
    right now: about 2x when idle, less when something else is competing.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.loops = 200_000
        if not sys.executable:
            raise OSError("no Python executable to start the reference burst with")
        for _ in range(2):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-S", "-c", _REFERENCE_CODE],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    close_fds=True,
                    env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                )
            )

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _read(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready or proc.stdout.read(1) == b"":
            raise OSError("the reference burst's helper process did not answer")

    def ready(self) -> None:
        for proc in self.procs:
            self._read(proc, 30.0)

    def burst(self, which: Sequence[int]) -> float:
        payload = self.loops.to_bytes(4, "little")
        start = clock.perf_counter()
        for i in which:
            stdin = self.procs[i].stdin
            assert stdin is not None
            stdin.write(payload)
            stdin.flush()
        for i in which:
            self._read(self.procs[i], 30.0)
        return clock.perf_counter() - start

    def calibrate(self) -> None:
        """Size the loop so that one worker alone takes about REFERENCE_TARGET_S."""
        for _ in range(3):
            took = self.burst([0])
            if took > 0.005:
                scale = REFERENCE_TARGET_S / took
                self.loops = max(10_000, min(50_000_000, int(self.loops * scale)))
                if 0.5 < scale < 2:
                    return
            else:
                self.loops *= 10

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(2.0)
            if proc.stdout is not None:
                proc.stdout.close()


def _timed(
    func: Callable[[], Any], interval: float, exclude: Sequence[int]
) -> tuple[float, TreeSampler]:
    # Collect garbage now so that a collection does not land inside the timing.
    gc.collect()
    with TreeSampler(interval, exclude) as sampler:
        start = clock.perf_counter()
        func()
        took = clock.perf_counter() - start
    return took, sampler


def measure_speedup(
    serial: Callable[[], Any],
    parallel: Callable[[], Any],
    *,
    budget: float = DEFAULT_BUDGET,
    min_speedup: float | None = None,
    reference: bool = True,
    lock: bool = True,
    lock_path: str | os.PathLike[str] | Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    sample_interval: float = DEFAULT_SAMPLE_INTERVAL,
    max_rounds: int = MAX_ROUNDS,
    cpus: CpuBudget | None = None,
) -> SpeedupMeasurement:
    """Measure ``serial()`` against ``parallel()`` (both called without arguments).

    Returns a picklable :class:`SpeedupMeasurement`; judge it with
    :func:`pytest_mpcheck.speedup.verdict.judge` (``min_speedup`` here only
    serves to stop measuring as soon as that verdict is decisive). An exception
    raised by either callable propagates after the helpers are cleaned up.
    """
    from pytest_mpcheck.speedup.verdict import judge

    budget_cpus = effective_cpus() if cpus is None else cpus
    if budget_cpus.effective < 2:
        return SpeedupMeasurement(
            budget_cpus,
            not_measured=f"fewer than 2 effective CPUs ({budget_cpus.describe()})",
            budget=budget,
            clocks_trusted=clock.CLOCKS_TRUSTED,
        )
    lock_cm = timing_lock(lock_path, timeout=lock_timeout) if lock else contextlib.nullcontext(0.0)
    try:
        with lock_cm as waited:
            return _protocol(
                serial,
                parallel,
                budget=budget,
                min_speedup=min_speedup,
                reference=reference,
                interval=sample_interval,
                max_rounds=max_rounds,
                cpus=budget_cpus,
                lock_wait=waited,
                judge=judge,
            )
    except LockUnavailable as exc:
        return SpeedupMeasurement(
            budget_cpus, not_measured=str(exc), budget=budget, clocks_trusted=clock.CLOCKS_TRUSTED
        )


def _protocol(
    serial: Callable[[], Any],
    parallel: Callable[[], Any],
    *,
    budget: float,
    min_speedup: float | None,
    reference: bool,
    interval: float,
    max_rounds: int,
    cpus: CpuBudget,
    lock_wait: float,
    judge: Callable[..., Any],
) -> SpeedupMeasurement:
    start = clock.perf_counter()
    errors: list[str] = []
    ref: _Reference | None = None
    if reference:
        try:
            ref = _Reference()
        except OSError as exc:
            errors.append(f"no reference burst: {exc}")
    exclude = ref.pids if ref is not None else []
    rounds: list[Round] = []
    durations: list[float] = []
    stopped = "budget spent"
    grace_used = False

    def build() -> SpeedupMeasurement:
        return SpeedupMeasurement(
            cpus,
            tuple(rounds),
            budget=budget,
            elapsed=clock.perf_counter() - start,
            lock_wait=lock_wait,
            clocks_trusted=clock.CLOCKS_TRUSTED,
            sample_method=rounds[0].parallel_evidence.method if rounds else "none",
            stopped_because=stopped,
            errors=tuple(errors),
        )

    try:
        for index in range(max_rounds + 1):
            round_start = clock.perf_counter()
            warmup = index == 0
            single = pair = None
            if ref is not None and not warmup:
                try:
                    single = ref.burst([0])
                    pair = ref.burst([0, 1])
                except OSError as exc:
                    errors.append(str(exc))
                    ref.close()
                    ref = None
            serial_first = index % 2 == 1
            if warmup:
                # Only the parallel version needs warming up (pools, forkservers,
                # imports in fresh workers); the serial one runs in this process.
                s_time, s_ev = 0.0, EMPTY_EVIDENCE
                p_time, p_sampler = _timed(parallel, interval, exclude)
                p_ev = p_sampler.evidence()
            else:
                if serial_first:
                    s_time, s_sampler = _timed(serial, interval, exclude)
                    p_time, p_sampler = _timed(parallel, interval, exclude)
                else:
                    p_time, p_sampler = _timed(parallel, interval, exclude)
                    s_time, s_sampler = _timed(serial, interval, exclude)
                # A descendant that kept a CPU busy while the serial version ran (a
                # helper some fixture started, a competing job) is background, not
                # the parallel version's work: leave it out of the parallel evidence.
                # "Busy" is relative: it used a CPU while the serial version ran at
                # least a fifth as much as while the parallel one did (the parallel
                # version's own workers, even a pool made beforehand, sit idle then).
                p_rates = p_sampler.cpu_rates()
                background = {
                    pid
                    for pid, rate in s_sampler.cpu_rates().items()
                    if pid != os.getpid()
                    and rate >= BACKGROUND_MIN_RATE
                    and rate >= BACKGROUND_SHARE * p_rates.get(pid, 0.0)
                }
                s_ev = s_sampler.evidence(ignore=background)
                p_ev = p_sampler.evidence(ignore=background)
            rounds.append(
                Round(index, warmup, serial_first, s_time, p_time, s_ev, p_ev, single, pair)
            )
            if warmup and ref is not None:
                try:
                    ref.ready()
                    ref.calibrate()
                except OSError as exc:
                    errors.append(str(exc))
                    ref.close()
                    ref = None
            durations.append(clock.perf_counter() - round_start)
            if warmup:
                continue
            verdict = judge(build(), min_speedup=min_speedup)
            if verdict.decisive:
                stopped = "verdict decisive"
                break
            elapsed = clock.perf_counter() - start
            # The next timed round is predicted from the slowest one so far (the
            # warm-up, with its first pool and imports, is no guide).
            next_cost = ROUND_COST_MARGIN * max(durations[1:])
            timed = len(rounds) - 1
            if timed < MIN_TIMED_ROUNDS:
                # One run decides nothing (a failure needs two): the second timed
                # round is measured even when it passes the budget.
                continue
            if elapsed + next_cost > budget:
                # Never past the budget otherwise, whatever the evidence.
                break
            if elapsed + next_cost > SOFT_SHARE * budget:
                # Past the soft limit only for a verdict that leans serial (one round
                # of grace; it may settle a failure, where stopping would skip).
                leans_serial = verdict.runs_parallel == 0 and verdict.runs_serial >= 1
                if not leans_serial or grace_used:
                    break
                grace_used = True
        else:
            stopped = "round limit reached"
    finally:
        if ref is not None:
            ref.close()
    return build()
