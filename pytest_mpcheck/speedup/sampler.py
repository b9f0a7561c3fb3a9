"""Evidence of parallel execution, sampled from outside the code under test.

While a callable runs, a sampler thread polls the CPU time of this process and of
every descendant process every few milliseconds. In each sampling window it sees
which processes were using a CPU. Code that really runs in several processes at
once shows two or more processes accumulating CPU in the same windows; code that
runs one task after another (processes started and joined one by one, a
one-worker pool, a plain ``map``) shows one process at a time, with at most a
shared window where one hands over to the next.

Two figures come out of it: the overlap (window by window, the CPU of the second
busiest process against the busiest's) and the coincidence (how often the two
busiest processes were active in the same window, against what chance gives when
each is active that often: it stays near 1 for parallel workers on a starved
machine that hands each a few milliseconds now and then).

The sampler's own thread is left out of this process's CPU time, and processes
that are not the code under test are excluded: the reference burst's workers,
multiprocessing's fork server and resource tracker, and (decided by the caller)
background processes that were just as busy while the serial version ran.
On Linux the per-thread ``/proc/<pid>/task/<tid>/schedstat`` gives nanoseconds;
elsewhere psutil's per-process CPU times (clock ticks) are used.

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import psutil

from pytest_mpcheck.speedup import clock

__all__ = ["EMPTY_EVIDENCE", "RunEvidence", "TreeSampler"]

#: A process counts as active in a window when it used at least this share of the
#: busiest process's CPU in that window (and at least ACTIVE_MIN_S). Relative, not
#: a share of the window: on a starved machine two parallel workers may each get
#: only a few milliseconds per window, but they get them in the same windows,
#: while a parent's pool-handler threads use far less than a working process.
ACTIVE_SHARE = 0.3
ACTIVE_MIN_S = 0.001
#: The coincidence test needs chance to predict at least this many shared windows.
MIN_EXPECTED_COINCIDENT = 4.0
#: A process counts as having done work when it used at least this much CPU (s).
MIN_PROCESS_CPU = 0.02

_PROC = "/proc"
# Taken at import, like the clocks: code under test that patches os.listdir or
# open in this process cannot hide its processes from the sampler.
_listdir = os.listdir
_open = io.open
_HELPER_MARKERS = (
    b"multiprocessing.forkserver",
    b"multiprocessing.resource_tracker",
    b"multiprocessing.semaphore_tracker",
)
#: (pid, start) -> whether that process is one of multiprocessing's helpers.
_HELPERS: dict[tuple[int, int], bool] = {}
_HAVE_SCHEDSTAT = sys.platform.startswith("linux") and os.path.exists(
    f"{_PROC}/self/task/{threading.get_native_id()}/schedstat"
)


@dataclass(frozen=True)
class RunEvidence:
    """What the sampler saw during one run (seconds; all picklable).

    ``cpu_top`` sums, window by window, the CPU of the busiest process;
    ``cpu_overlap`` sums the CPU of the second busiest: near zero when one process
    ran at a time, close to ``cpu_top`` when two ran side by side.
    """

    wall: float
    samples: int
    cpu_total: float
    cpu_top: float
    cpu_overlap: float
    windows_busy: int
    windows_multi: int
    max_concurrent: int
    processes: tuple[tuple[int, float], ...]
    method: str
    coincident: int = 0
    expected_coincident: float = 0.0

    @property
    def overlap_ratio(self) -> float:
        """CPU of the second busiest process per window against the busiest's (0..1)."""
        return self.cpu_overlap / self.cpu_top if self.cpu_top > 0 else 0.0

    @property
    def cpu_per_wall(self) -> float:
        """CPU time of the whole process tree divided by wall time."""
        return self.cpu_total / self.wall if self.wall > 0 else 0.0

    @property
    def coverage(self) -> float:
        """Share of the wall time in which some process of the tree used a CPU."""
        return self.cpu_top / self.wall if self.wall > 0 else 0.0

    @property
    def coincidence(self) -> float | None:
        """Windows the two busiest processes were active together, against chance.

        About 1 or more when they ran side by side, near 0 when they took turns;
        ``None`` when chance predicts too few such windows to tell.
        """
        if self.expected_coincident < MIN_EXPECTED_COINCIDENT:
            return None
        return self.coincident / self.expected_coincident

    @property
    def processes_used(self) -> int:
        """How many distinct processes did work."""
        return len(self.processes)


EMPTY_EVIDENCE = RunEvidence(0.0, 0, 0.0, 0.0, 0.0, 0, 0, 0, (), "none")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with _open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return data[data.rfind(")") + 2 :].split()


def _schedstat_cpu(pid: int, skip_tid: int) -> int | None:
    """Nanoseconds on CPU of every thread of ``pid`` except ``skip_tid``."""
    try:
        tids = _listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tids:
        if tid == str(skip_tid):
            continue
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            _open(f"{_PROC}/{pid}/task/{tid}/schedstat", "rb") as f,
        ):
            total += int(f.read().split()[0])
    return total


class TreeSampler:
    """Context manager: sample CPU use of this process tree while the body runs."""

    def __init__(self, interval: float = 0.01, exclude: Iterable[int] = ()) -> None:
        self.interval = interval
        self.exclude = set(exclude)
        self.root = os.getpid()
        self.method = "schedstat" if _HAVE_SCHEDSTAT else "psutil"
        self._samples: list[tuple[float, dict[tuple[int, int], int]]] = []
        self._tree: dict[int, int] = {}  # pid -> start time (identity against pid reuse)
        self._seen: set[str] = set()  # /proc entries already looked at
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tid = -1
        self._procs: dict[int, psutil.Process] = {}
        self._ticks = 0

    # -- tree discovery -------------------------------------------------------
    def _add(self, pid: int, start: int) -> None:
        if pid not in self.exclude:
            self._tree[pid] = start

    def _initial_tree(self) -> None:
        self._add(self.root, 0)
        for child in psutil.Process(self.root).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                self._add(child.pid, int(child.create_time() * 100))
        if self.method == "schedstat":
            with contextlib.suppress(OSError):
                self._seen = set(_listdir(_PROC))

    def _discover(self) -> None:
        """Add processes started since the last tick whose parent is in the tree."""
        if self.method != "schedstat":
            if self._ticks % 5 == 0:
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(self.root).children(recursive=True):
                        if child.pid not in self._tree:
                            self._add(child.pid, int(child.create_time() * 100))
            return
        try:
            entries = set(_listdir(_PROC))
        except OSError:
            return
        # Set difference in C: only the entries new since the last tick cost anything.
        new = entries - self._seen
        self._seen |= new
        pending = sorted(int(e) for e in new if e.isdigit())
        changed = True
        while pending and changed:
            changed = False
            rest = []
            for pid in pending:
                fields = _stat_fields(pid)
                if fields is None or len(fields) < 20:
                    continue
                if int(fields[1]) in self._tree:
                    self._add(pid, int(fields[19]))
                    changed = True
                else:
                    rest.append(pid)
            pending = rest

    # -- sampling -------------------------------------------------------------
    def _cpu(self, pid: int) -> int | None:
        skip = self._tid if pid == self.root else -1
        if self.method == "schedstat":
            return _schedstat_cpu(pid, skip)
        try:
            proc = self._procs.get(pid) or psutil.Process(pid)
            self._procs[pid] = proc
            if pid == self.root:
                threads = proc.threads()
                secs = sum(t.user_time + t.system_time for t in threads if t.id != skip)
            else:
                times = proc.cpu_times()
                secs = times.user + times.system
        except psutil.Error:
            return None
        return int(secs * 1e9)

    def _sample(self) -> None:
        self._discover()
        now = clock.monotonic()
        values: dict[tuple[int, int], int] = {}
        for pid, start in list(self._tree.items()):
            cpu = self._cpu(pid)
            if cpu is not None:
                values[(pid, start)] = cpu
        self._samples.append((now, values))
        self._ticks += 1

    def _run(self) -> None:
        self._tid = threading.get_native_id()
        while True:
            # Event.wait sleeps on a C-level clock that patched `time` cannot touch.
            if self._stop.wait(self.interval):
                self._sample()
                return
            self._sample()

    def __enter__(self) -> TreeSampler:
        self._initial_tree()
        # The first sample is taken here, not in the thread, so that the run is
        # covered from its start even if the thread is slow to be scheduled.
        self._sample()
        self._thread = threading.Thread(target=self._run, name="mpcheck-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    # -- analysis -------------------------------------------------------------
    def cpu_rates(self) -> dict[int, float]:
        """CPU seconds per wall second of each process during the run."""
        if len(self._samples) < 2:
            return {}
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        wall = t1 - t0
        if wall <= 0:
            return {}
        return {
            key[0]: max(0, value - first.get(key, 0)) / 1e9 / wall for key, value in last.items()
        }

    def infrastructure(self) -> set[int]:
        """Processes of the tree that are multiprocessing's own helpers, not the work.

        The fork server (its start-up imports would look like a worker taking
        turns with the others) and the resource tracker. Read after the run, when
        every process has had time to exec its real command line.
        """
        found = set()
        for pid, start in self._tree.items():
            if pid == self.root:
                continue
            kind = _HELPERS.get((pid, start))
            if kind is None:
                try:
                    with _open(f"{_PROC}/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                kind = any(marker in cmdline for marker in _HELPER_MARKERS)
                _HELPERS[(pid, start)] = kind
            if kind:
                found.add(pid)
        return found

    def evidence(self, ignore: Iterable[int] = ()) -> RunEvidence:
        """Summarise the samples taken (call after the ``with`` block).

        ``ignore``: pids to leave out, such as background processes that were just
        as busy while the serial version ran.
        """
        skip = set(ignore) | self.infrastructure()
        samples = self._samples
        if len(samples) < 2:
            return EMPTY_EVIDENCE
        totals: dict[int, float] = {}
        # Per window: the processes (pid) that used at least ACTIVE_MIN_S of CPU.
        activity: list[set[int]] = []
        cpu_total = cpu_top = cpu_overlap = 0.0
        busy = multi = max_conc = 0
        for (t0, before), (t1, after) in itertools.pairwise(samples):
            dt = t1 - t0
            if dt <= 0:
                continue
            deltas = []
            on: set[int] = set()
            activity.append(on)
            for key, value in after.items():
                if key[0] in skip:
                    continue
                old = before.get(key)
                if old is None:
                    # Started during this window: all its CPU so far is in it.
                    old = 0 if key[0] != self.root else value
                delta = max(0, value - old) / 1e9
                if delta >= ACTIVE_MIN_S:
                    on.add(key[0])
                if delta > 0:
                    deltas.append(delta)
                    totals[key[0]] = totals.get(key[0], 0.0) + delta
            deltas.sort(reverse=True)
            cpu_total += sum(deltas)
            if deltas:
                cpu_top += deltas[0]
            floor = max(ACTIVE_MIN_S, ACTIVE_SHARE * deltas[0]) if deltas else 0.0
            active = sum(1 for d in deltas if d >= floor)
            if active >= 2:
                cpu_overlap += deltas[1]
            busy += active >= 1
            multi += active >= 2
            max_conc = max(max_conc, active)
        used = tuple(
            sorted(
                ((pid, cpu) for pid, cpu in totals.items() if cpu >= MIN_PROCESS_CPU),
                key=lambda item: -item[1],
            )
        )
        coincident, expected = _coincidence(activity, [pid for pid, _ in used[:2]])
        return RunEvidence(
            wall=samples[-1][0] - samples[0][0],
            samples=len(samples),
            cpu_total=cpu_total,
            cpu_top=cpu_top,
            cpu_overlap=cpu_overlap,
            windows_busy=busy,
            windows_multi=multi,
            max_concurrent=max_conc,
            processes=used,
            method=self.method,
            coincident=coincident,
            expected_coincident=expected,
        )


def _coincidence(activity: list[set[int]], pair: list[int]) -> tuple[int, float]:
    """Windows in which both of ``pair`` were active, and how many chance would give.

    Only the windows of the two processes' common lifetime count (from the later
    one's first active window to the earlier one's last). Two processes that run
    side by side, even on a starved machine that hands each a few milliseconds
    now and then, are active together at least as often as chance (activity
    independent of each other) would have it; two that take turns (one task after
    another) almost never are, and processes that never coexisted (started and
    joined one by one) have no common lifetime at all.
    """
    if len(pair) < 2:
        return 0, 0.0
    a, b = pair
    first = [i for i, on in enumerate(activity) if a in on]
    second = [i for i, on in enumerate(activity) if b in on]
    if not first or not second:
        return 0, 0.0
    start, end = max(first[0], second[0]), min(first[-1], second[-1])
    if end < start:
        return 0, 0.0
    span = activity[start : end + 1]
    n = len(span)
    n_a = sum(1 for on in span if a in on)
    n_b = sum(1 for on in span if b in on)
    both = sum(1 for on in span if a in on and b in on)
    return both, n_a * n_b / n
