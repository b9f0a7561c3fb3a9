"""The judge: from a measurement to pass, fail or "cannot judge here", with figures.

Structure decides before timing does. Timing on a shared machine is noisy
(8-18 % run to run, sometimes much worse), so wall time alone never fails code.
What the sampler saw decides whether the parallel version ran one task after
another:

- ``fail-serial``: in at least two runs (and half of them), and in no run the
  other way, the CPU was used by one process at a time (overlap below
  :data:`SERIAL_OVERLAP`) while the sampler saw the work (the processes used at
  least half the CPU time the serial version needed), so work done outside this
  process tree is not mistaken for serial work. Overlap is judged window by window relative to the
  busiest process, and the two busiest processes' shared windows are compared
  with what chance gives, so a starved machine (each worker getting a few
  milliseconds now and then) still shows parallel code as parallel.
- ``pass``: two or more processes used a CPU at the same time in most timed runs
  (and one at a time in none), and the median speedup of the timed rounds
  reached the threshold. The warm-up run (first pool, forkserver, imports) is no
  evidence either way: start-up can look like overlap or like turn-taking.
- ``cannot-judge``: everything else (too few CPUs, lock not available, a busy
  machine, evidence that does not settle it). ``assert_speedup`` skips then.
  Parallel code that is not faster is never failed on timing: process start-up
  (85 ms for a spawn ``Pool(2)`` here) can eat a small workload's gain in a
  correct version too.

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from pytest_mpcheck.i18n import _
from pytest_mpcheck.speedup.measure import SpeedupMeasurement
from pytest_mpcheck.speedup.sampler import RunEvidence

__all__ = [
    "CANNOT_JUDGE",
    "FAIL_SERIAL",
    "PASS",
    "SpeedupVerdict",
    "Verdict",
    "default_threshold",
    "judge",
]

PASS = "pass"
FAIL_SERIAL = "fail-serial"
CANNOT_JUDGE = "cannot-judge"

#: A run counts as parallel when the second busiest process used at least this
#: share of the busiest one's CPU, window by window...
PARALLEL_OVERLAP = 0.30
#: ...or when the process tree used this many CPU-seconds per wall second.
PARALLEL_CPU_PER_WALL = 1.30
#: ...or when the two busiest processes were active in the same sampling windows
#: at least this often compared with chance (see ``RunEvidence.coincidence``).
PARALLEL_COINCIDENCE = 0.6
#: A run counts as serial when the overlap stays below this share...
SERIAL_OVERLAP = 0.12
#: ...the two busiest processes shared windows less than this against chance
#: (or never coexisted)...
SERIAL_COINCIDENCE = 0.4
#: ...while the tree had a CPU for at least this share of the wall time.
SERIAL_MIN_COVERAGE = 0.10
#: ...or used at least this share of the serial version's CPU time...
SERIAL_SEEN_SHARE = 0.5
#: ...and the busiest process did at least this much work (s).
SERIAL_MIN_CPU = 0.08
#: Below this coverage in every run, the work ran outside this process tree.
INVISIBLE_COVERAGE = 0.05
#: Reference speedup (of the ideal) below which the machine counts as busy.
BUSY_REFERENCE_SHARE = 0.75
#: The parallel version may use this many times the serial version's CPU time
#: (process start-up, pickling) and still count as doing the same work once:
#: workers that each redo all of it use twice as much or more...
SAME_WORK_RATIO = 1.6
#: ...and at least this share of it, or the work ran where the sampler cannot see.
SEEN_WORK_RATIO = 0.7
#: The work was shared when the second busiest process used at least this share of
#: the busiest one's CPU time (about 1 when workers split it, near 0 when one process
#: did it while another only kept a CPU busy; start-up costs both alike).
SHARED_BALANCE = 0.5
#: From this many times the serial CPU time on, the hint asks whether the work was
#: done twice...
REDONE_WORK_RATIO = 1.8
#: ...and with the busiest process at this share of the serial CPU time (and the
#: balance below SHARED_BALANCE), whether one process did it all.
ALONE_TOP_SHARE = 0.9
#: On a machine that is not busy, a parallel version is credible when its median
#: speedup reached this much (a correct Pool(2) has measured 1.12 at worst on an idle
#: 2-vCPU VM whose vCPUs slow each other down; a helper that spins beside serial work
#: measures about 1.0). On a busy one timing tells nothing: with one CPU-bound job
#: competing, the reference burst itself measured 0.93-1.08 and a correct version
#: 0.79-0.98, so there the evidence alone decides.
CREDIBLE_SPEEDUP = 1.05


def default_threshold(parallelism: int) -> float:
    """The speedup a correct version reaches with room to spare on ``parallelism`` CPUs.

    A quarter of the ideal gain: 1.25 on 2 CPUs (a correct ``Pool(2)`` measures
    about 1.8 here when the machine is idle), 1.75 on 4.
    """
    return 1.0 + 0.25 * (max(2, parallelism) - 1)


def classify(ev: RunEvidence, serial_cpu: float | None = None) -> str:
    """Return ``"parallel"``, ``"serial"`` or ``"unclear"`` for one run's evidence.

    ``serial_cpu``: the CPU time the serial version used for the same work (median
    over the timed rounds). When the parallel run's processes used at least half
    of it, the sampler saw the work, however starved the machine was; without it,
    the tree must have used a CPU for :data:`SERIAL_MIN_COVERAGE` of the wall time.
    """
    if ev.samples < 3:
        return "unclear"
    coincidence = ev.coincidence
    if ev.processes_used >= 2 and (
        ev.cpu_per_wall >= PARALLEL_CPU_PER_WALL
        or (coincidence is not None and coincidence >= PARALLEL_COINCIDENCE)
    ):
        return "parallel"
    if ev.overlap_ratio >= PARALLEL_OVERLAP and ev.max_concurrent >= 2:
        return "parallel"
    if serial_cpu:
        saw_the_work = ev.cpu_total >= SERIAL_SEEN_SHARE * serial_cpu
    else:
        saw_the_work = ev.coverage >= SERIAL_MIN_COVERAGE
    if (
        ev.overlap_ratio < SERIAL_OVERLAP
        and (coincidence is None or coincidence < SERIAL_COINCIDENCE)
        and saw_the_work
        and ev.cpu_top >= SERIAL_MIN_CPU
    ):
        return "serial"
    return "unclear"


@dataclass(frozen=True)
class SpeedupVerdict:
    """A judged measurement: ``kind`` is pass, fail-serial or cannot-judge.

    ``message`` is the one-paragraph learner-facing reason; :meth:`report` adds
    the figures (speedup with its spread, rounds, effective CPUs, threshold).
    """

    kind: str
    message: str
    decisive: bool
    speedup: float | None
    speedup_min: float | None
    speedup_max: float | None
    rounds: int
    effective_cpus: float
    cpus_detail: str
    threshold: float
    threshold_why: str
    reference_speedup: float | None
    runs_parallel: int
    runs_serial: int
    runs_total: int
    overlap: float | None
    processes: int
    elapsed: float
    #: Whether the reference burst showed a busy machine.
    busy: bool = False
    #: The parallel version's CPU time over the serial version's (median per round).
    work_ratio: float | None = None
    #: The busiest process's CPU time in a parallel run over the serial version's.
    top_share: float | None = None
    #: The second busiest process's CPU time over the busiest one's (median per round).
    balance: float | None = None

    @property
    def parallel_evidence(self) -> bool:
        """Several processes used a CPU at once in two thirds of two or more timed
        runs, and one at a time in none."""
        return (
            self.runs_total >= 2
            and self.runs_serial == 0
            and self.runs_parallel * 3 >= self.runs_total * 2
        )

    @property
    def ran_in_parallel(self) -> bool:
        """What the evidence says, timing aside: the work was shared and ran in parallel.

        :attr:`parallel_evidence`, while the parallel version used about the serial
        version's CPU time (:data:`SEEN_WORK_RATIO` to :data:`SAME_WORK_RATIO`
        times: the work done once, where the sampler sees it) and its two busiest
        processes used comparable CPU time (:data:`SHARED_BALANCE`: the work shared,
        not done by one process while another only keeps a CPU busy).
        """
        return (
            self.parallel_evidence
            and self.work_ratio is not None
            and SEEN_WORK_RATIO <= self.work_ratio <= SAME_WORK_RATIO
            and self.balance is not None
            and self.balance >= SHARED_BALANCE
        )

    @property
    def credible_parallel(self) -> bool:
        """:attr:`ran_in_parallel`, and timing that does not contradict it.

        Unless the reference burst showed a busy machine (where timing tells
        nothing), the parallel version was also faster than the serial one: a
        median speedup of at least :data:`CREDIBLE_SPEEDUP`, if not the threshold.
        What a grader may award when timing alone cannot decide.
        """
        if not self.ran_in_parallel or self.speedup is None:
            return False
        return self.busy or self.speedup >= CREDIBLE_SPEEDUP

    @property
    def passed(self) -> bool:
        """True for a pass."""
        return self.kind == PASS

    @property
    def failed(self) -> bool:
        """True for a failure (the work ran one task after another)."""
        return self.kind == FAIL_SERIAL

    def figures(self) -> str:
        """The figures, one per line."""
        lines = []
        if self.speedup is not None:
            lines.append(
                _(
                    "speedup: {median:.2f} (median; {low:.2f} to {high:.2f}; timed rounds:"
                    " {rounds})"
                ).format(
                    median=self.speedup,
                    low=self.speedup_min,
                    high=self.speedup_max,
                    rounds=self.rounds,
                )
            )
        else:
            lines.append(_("speedup: not measured"))
        lines.append(
            _("threshold: {threshold:.2f} ({why})").format(
                threshold=self.threshold, why=self.threshold_why
            )
        )
        lines.append(_("effective CPUs: {detail}").format(detail=self.cpus_detail))
        if self.runs_total:
            lines.append(
                _(
                    "evidence: several processes used a CPU at the same time in {par} of {total}"
                    " parallel runs, one at a time in {ser}; overlap {overlap:.0%};"
                    " processes that did work: {processes}"
                ).format(
                    par=self.runs_parallel,
                    total=self.runs_total,
                    ser=self.runs_serial,
                    overlap=self.overlap or 0.0,
                    processes=self.processes,
                )
            )
        if self.work_ratio is not None and self.top_share is not None:
            lines.append(
                _(
                    "work: the parallel version used {ratio:.2f} times the serial version's CPU"
                    " time, its busiest process {top:.0%} of it"
                ).format(ratio=self.work_ratio, top=self.top_share)
            )
        if self.reference_speedup is not None:
            lines.append(
                _("reference burst (two known-good workers): speedup {ref:.2f}").format(
                    ref=self.reference_speedup
                )
            )
        lines.append(_("measured in {elapsed:.1f} s").format(elapsed=self.elapsed))
        return "\n".join(lines)

    def report(self) -> str:
        """The message followed by the figures."""
        return f"{self.message}\n{self.figures()}"

    def __str__(self) -> str:
        return self.report()


#: The short name used in this module's interface.
Verdict = SpeedupVerdict


def judge(measurement: SpeedupMeasurement, *, min_speedup: float | None = None) -> SpeedupVerdict:
    """Judge ``measurement``: see the module docstring for the rules."""
    m = measurement
    cpus = m.cpus
    # The warm-up starts pools, forkservers and imports for the first time; that
    # start-up can look like overlap in serial code, or like processes taking
    # turns in parallel code: the warm-up run is no evidence either way.
    runs = [r.parallel_evidence for r in m.rounds]
    serial_cpus = [r.serial_evidence.cpu_total for r in m.timed_rounds]
    serial_cpu = statistics.median(serial_cpus) if serial_cpus else None
    kinds = [classify(r.parallel_evidence, serial_cpu) for r in m.rounds]
    for i, r in enumerate(m.rounds):
        if r.warmup:
            kinds[i] = "ignored"
    counted = len(kinds) - kinds.count("ignored")
    n_par = kinds.count("parallel")
    n_ser = kinds.count("serial")
    speedups = m.speedups
    refs = m.reference_speedups
    ref_median = statistics.median(refs) if refs else None
    ideal = min(2.0, cpus.effective)
    seen_parallelism = max((ev.max_concurrent for ev in runs), default=0)
    parallelism = min(cpus.usable, max(2, seen_parallelism))
    if min_speedup is not None:
        threshold = float(min_speedup)
        why = _("asked for")
    else:
        threshold = default_threshold(parallelism)
        why = _(
            "a quarter of the ideal gain on {n} CPUs; a correct version is well above it"
        ).format(n=parallelism)
    overlaps = [ev.overlap_ratio for ev in runs if ev.samples >= 3]
    base = dict(
        speedup=statistics.median(speedups) if speedups else None,
        speedup_min=min(speedups) if speedups else None,
        speedup_max=max(speedups) if speedups else None,
        rounds=len(speedups),
        effective_cpus=cpus.effective,
        cpus_detail=cpus.describe(),
        threshold=threshold,
        threshold_why=why,
        reference_speedup=ref_median,
        runs_parallel=n_par,
        runs_serial=n_ser,
        runs_total=counted,
        overlap=statistics.median(overlaps) if overlaps else None,
        processes=max((ev.processes_used for ev in runs), default=0),
        elapsed=m.elapsed,
        busy=ref_median is not None and ref_median < BUSY_REFERENCE_SHARE * ideal,
        work_ratio=_median_ratio(m, lambda ev: ev.cpu_total),
        top_share=_median_ratio(m, lambda ev: ev.processes[0][1] if ev.processes else 0.0),
        balance=_balance(m),
    )

    def verdict(kind: str, message: str, decisive: bool = True) -> SpeedupVerdict:
        return SpeedupVerdict(kind=kind, message=message, decisive=decisive, **base)  # type: ignore[arg-type]

    if m.not_measured is not None:
        return verdict(CANNOT_JUDGE, _cannot(m.not_measured))

    if n_ser >= 2 and n_par == 0 and n_ser * 2 >= counted:
        timing = ""
        if speedups and statistics.median(speedups) >= threshold:
            # On a busy machine serial code can time faster than its serial twin.
            timing = _(
                " (its speedup was {speedup:.2f}, threshold {threshold:.2f}, but only by"
                " chance on a busy machine: its processes never ran at the same time)"
            ).format(speedup=statistics.median(speedups), threshold=threshold)
        elif speedups:
            timing = _(" (its speedup was {speedup:.2f}, threshold {threshold:.2f})").format(
                speedup=statistics.median(speedups), threshold=threshold
            )
        return verdict(
            FAIL_SERIAL,
            _(
                "the parallel version ran one task after another: in {ser} of {total} runs only"
                " one process at a time was using a CPU{timing}. Start all the workers (or"
                " submit all the tasks to the pool) before waiting for any result, and use"
                " at least 2 worker processes."
            ).format(ser=n_ser, total=counted, timing=timing),
        )

    median = statistics.median(speedups) if speedups else None
    busy = bool(base["busy"])
    # Pass needs parallel evidence in most timed runs and serial evidence in none.
    if n_par > 0 and n_ser == 0 and median is not None:
        if median >= threshold and len(speedups) >= 2 and n_par * 3 >= counted * 2:
            decisive = min(speedups) >= threshold or len(speedups) >= 3
            return verdict(
                PASS,
                _(
                    "the parallel version ran in several processes at once and was {speedup:.2f}"
                    " times as fast as the serial one (threshold {threshold:.2f})"
                ).format(speedup=median, threshold=threshold),
                decisive,
            )
        ratio, top, balance = base["work_ratio"], base["top_share"], base["balance"]
        if (
            isinstance(top, float)
            and top >= ALONE_TOP_SHARE
            and isinstance(balance, float)
            and balance < SHARED_BALANCE
        ):
            reason = _(
                "several processes were busy at once, but the speedup was {speedup:.2f}"
                " (threshold {threshold:.2f}) and one process alone used {top:.0%} of the"
                " serial version's CPU time: does one process do all the work while the others"
                " only keep busy? Give each worker its share of the tasks (pool.map(func, data))"
            ).format(speedup=median, threshold=threshold, top=top)
        elif isinstance(ratio, float) and ratio >= REDONE_WORK_RATIO:
            reason = _(
                "several processes were busy at once, but the speedup was {speedup:.2f}"
                " (threshold {threshold:.2f}) and they used {ratio:.1f} times the serial"
                " version's CPU time: does every worker redo all the work? Give each worker its"
                " share of the tasks (pool.map(func, data)). (Starting workers costs CPU time"
                " too: with spawn, on a small workload, that alone can explain it.)"
            ).format(speedup=median, threshold=threshold, ratio=ratio)
        elif busy:
            reason = _(
                "the machine is too busy to tell: the work ran in parallel, but its speedup was"
                " {speedup:.2f} (threshold {threshold:.2f}) while a known-good parallel job"
                " reached only {ref:.2f} of an ideal {ideal:.2f}"
            ).format(speedup=median, threshold=threshold, ref=ref_median, ideal=ideal)
        else:
            reason = _(
                "the work ran in parallel, but its speedup of {speedup:.2f} did not reach the"
                " threshold {threshold:.2f} (timed rounds: {rounds}; timing was too noisy to"
                " decide)"
            ).format(speedup=median, threshold=threshold, rounds=len(speedups))
        return verdict(CANNOT_JUDGE, _cannot(reason), False)

    unseen = all(ev.coverage < INVISIBLE_COVERAGE for ev in runs)
    if (
        unseen
        and not busy
        and median is not None
        and len(speedups) >= 3
        and min(speedups) >= threshold
    ):
        # The work ran where the sampler cannot see (not in this process tree) on a
        # machine that gave full parallelism: timing alone may pass it, never fail it.
        return verdict(
            PASS,
            _(
                "the parallel version was {speedup:.2f} times as fast as the serial one in"
                " every round (threshold {threshold:.2f})"
            ).format(speedup=median, threshold=threshold),
        )
    reason = _(
        "the evidence does not settle it: several processes at once in {par} runs, one at a"
        " time in {ser}, unclear in {unclear}"
    ).format(par=n_par, ser=n_ser, unclear=counted - n_par - n_ser)
    if busy:
        reason += _(" (the machine is busy: reference speedup {ref:.2f})").format(ref=ref_median)
    return verdict(CANNOT_JUDGE, _cannot(reason), False)


def _balance(m: SpeedupMeasurement) -> float | None:
    """Median over the timed rounds of the second busiest process's CPU over the busiest's."""
    ratios = [
        r.parallel_evidence.processes[1][1] / r.parallel_evidence.processes[0][1]
        if len(r.parallel_evidence.processes) >= 2
        else 0.0
        for r in m.timed_rounds
        if r.parallel_evidence.processes and r.parallel_evidence.processes[0][1] > 0
    ]
    return statistics.median(ratios) if ratios else None


def _median_ratio(m: SpeedupMeasurement, cpu: Callable[[RunEvidence], float]) -> float | None:
    """Median over the timed rounds of ``cpu(parallel run)`` / the serial run's CPU time."""
    ratios = [
        cpu(r.parallel_evidence) / r.serial_evidence.cpu_total
        for r in m.timed_rounds
        if r.serial_evidence.cpu_total > 0 and r.parallel_evidence.samples >= 3
    ]
    return statistics.median(ratios) if ratios else None


def _cannot(why: str) -> str:
    return _("cannot judge speedup here: {why}").format(why=why)
