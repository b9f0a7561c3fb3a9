"""ProcessGroup: processes of one context, tracked with their descendants and always ended.

The ``process_group`` fixture is a :class:`ProcessGroup`: call it like
``multiprocessing.Process`` (``process_group(target, args=(q,))``) and it returns the
started process. Each process runs :func:`pytest_mpcheck._bootstrap.run` first,
which moves it into a process group of its own, so its descendants (even those
re-parented when their parent exits) can be found and ended with it; every process is handed to the
:mod:`~pytest_mpcheck.reaper` so that it dies with pytest.

At teardown (:meth:`ProcessGroup.close`) daemon processes are terminated at once,
as ``multiprocessing`` would at interpreter exit, and the others are joined within
the deadline. What is still alive then is a hang: the report shows where each
stuck process is blocked, then they are terminated, then killed, and the group
raises :class:`ProcessGroupError` listing what it had to kill (the fixture turns it
into a failure at the test's teardown).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import psutil

from pytest_mpcheck import _bootstrap, proctree, reaper
from pytest_mpcheck.exceptions import MpcheckError
from pytest_mpcheck.i18n import _

__all__ = [
    "DEFAULT_TIMEOUT",
    "ProcessGroup",
    "ProcessGroupError",
    "hang_report",
    "is_helper_process",
]

#: Default deadline (seconds) of the fixtures' blocking calls; ``--mpcheck-timeout``.
DEFAULT_TIMEOUT = 10.0

#: How long a process gets to exit after SIGTERM before it is killed (seconds).
TERMINATE_GRACE = 1.0


class ProcessGroupError(MpcheckError):
    """Processes of a :class:`ProcessGroup` had to be killed at teardown."""


def hang_report(pids: Mapping[int, str], *, timeout: float | None = None) -> str:
    """Return where each process of ``pids`` (pid -> name) is blocked, or a plain list.

    Uses :mod:`pytest_mpcheck.stacks` (py-spy), within ``timeout`` seconds if given;
    never raises, so a failing dump cannot hide the deadline error it explains.
    """
    if not pids:
        return ""
    try:
        from pytest_mpcheck import stacks

        if timeout is None:
            return stacks.format_stacks(stacks.dump_stacks(dict(pids)))
        return stacks.format_stacks(stacks.dump_stacks(dict(pids), timeout=timeout))
    except Exception as exc:  # the report is a courtesy: never let it break teardown
        lines = [_("stacks unavailable ({error})").format(error=exc)]
        for pid, name in pids.items():
            try:
                info = proctree.describe(psutil.Process(pid))
            except psutil.Error:
                continue
            lines.append(f"  {name}: {info}")
        return "\n".join(lines)


# multiprocessing's own long-lived helpers, started on first use and shared by
# every later test: never a test's process.
_HELPER_MARKERS = (
    "multiprocessing.resource_tracker",
    "multiprocessing.semaphore_tracker",
    "multiprocessing.forkserver",
)


def is_helper_process(proc: psutil.Process) -> bool:
    """Whether ``proc`` is a helper of multiprocessing or of pytest-mpcheck, never a leak.

    That is the resource tracker, the forkserver's server process and the reaper's
    watchdog.
    """
    if proc.pid in reaper.helper_pids():
        return True
    marker = _helper_marker(proc)
    if marker is None:
        return False
    # A process the forkserver forks for a test inherits the server's command
    # line: it is the server only if its parent is not the server too.
    try:
        parent = proc.parent()
    except psutil.Error:
        return True
    return parent is None or _helper_marker(parent) != marker


def _helper_marker(proc: psutil.Process) -> str | None:
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    for marker in _HELPER_MARKERS:
        if marker in cmdline:
            return marker
    return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ProcessGroup:
    """A factory of processes of one ``multiprocessing`` context that never leaves one behind.

    ``timeout`` is the teardown deadline for joining the processes (seconds).
    """

    def __init__(
        self,
        context: BaseContext,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "process_group",
        watch: bool = True,
    ) -> None:
        self.context = context
        self.timeout = timeout
        self.name = name
        self._watch = watch
        self._processes: list[BaseProcess] = []
        # (pid, create_time) of every descendant seen, so that one re-parented
        # when its parent exits is still ended at teardown.
        self._descendants: dict[int, float] = {}
        self._groups: set[int] = set()
        self._closed = False

    # ------------------------------------------------------------------ creating
    def __call__(
        self,
        target: Callable[..., Any],
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        daemon: bool | None = None,
        start: bool = True,
    ) -> BaseProcess:
        """Create a process running ``target(*args, **kwargs)``; start it unless ``start=False``.

        An unstarted process is tracked too; start it with :meth:`start` so that it
        is watched from its first instant.
        """
        if self._closed:
            raise MpcheckError(_("this process group is closed: it cannot start processes"))
        process: BaseProcess = self.context.Process(  # type: ignore[attr-defined]
            target=_bootstrap.run,
            args=(target, tuple(args), dict(kwargs or {})),
            name=name,
            daemon=daemon,
        )
        self._processes.append(process)
        if start:
            self.start(process)
        return process

    Process = __call__

    def start(self, process: BaseProcess) -> BaseProcess:
        """Start ``process`` (tracking it if it is not yet) and hand it to the reaper."""
        if process not in self._processes:
            self._processes.append(process)
        process.start()
        self._adopt(process.pid)
        return process

    def track(self, process: BaseProcess | int) -> None:
        """Adopt a process started elsewhere (a ``Process`` or a pid).

        A ``Process`` is then joined, reported and ended at teardown like the
        group's own; a bare pid (and its descendants) is killed at teardown if it
        is still running. Both are handed to the reaper. Neither is moved into a
        process group of its own.
        """
        if isinstance(process, BaseProcess):
            if process not in self._processes:
                self._processes.append(process)
            if process.pid is not None:
                self._adopt(process.pid, own_group=False)
        else:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(process)
                self._descendants[proc.pid] = proc.create_time()
                for child in proctree.descendants(proc.pid):
                    self._descendants[child.pid] = child.create_time()
            self._adopt(process, own_group=False)

    def _adopt(self, pid: int | None, *, own_group: bool = True) -> None:
        if pid is None:
            return
        if own_group:
            # Also from this side: under fork the child may not have run setpgid yet.
            # (Fails harmlessly once a spawned child has exec'd or for forkserver's.)
            with contextlib.suppress(OSError):
                os.setpgid(pid, pid)
            self._groups.add(pid)
        if self._watch:
            reaper.watch(pid)

    # ------------------------------------------------------------------ looking
    @property
    def processes(self) -> list[BaseProcess]:
        """Every process created through this group, in creation order."""
        return list(self._processes)

    def alive(self) -> list[BaseProcess]:
        """The group's processes that are still running."""
        return [p for p in self._processes if _started(p) and p.is_alive()]

    def refresh(self) -> list[psutil.Process]:
        """Record and return the live descendants of the group's processes."""
        found: dict[int, psutil.Process] = {}
        for process in self._processes:
            # An ended process has no children left (they were re-parented): those
            # are found through its process group below.
            if not _started(process) or process.pid is None or not process.is_alive():
                continue
            for child in proctree.descendants(process.pid):
                found[child.pid] = child
        for proc in self._group_members():
            found.setdefault(proc.pid, proc)
        own = {p.pid for p in self._processes if _started(p)}
        for pid, proc in list(found.items()):
            if pid in own:
                del found[pid]
                continue
            with contextlib.suppress(psutil.Error):
                self._descendants[pid] = proc.create_time()
        return list(found.values())

    def _group_members(self) -> list[psutil.Process]:
        """Live processes in one of the group's process groups (found even when re-parented)."""
        # Scanning every process costs milliseconds; asking whether a group still
        # has a member costs a syscall, and after a clean run none has.
        if not any(_group_exists(pgid) for pgid in self._groups):
            return []
        members = []
        me = os.getpid()
        for proc in psutil.process_iter():
            if proc.pid == me:
                continue
            with contextlib.suppress(OSError, psutil.Error):
                if os.getpgid(proc.pid) in self._groups:
                    members.append(proc)
        return members

    def join_all(self, timeout: float | None = None) -> list[BaseProcess]:
        """Join every started process within one shared deadline; return those still alive."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for process in self._processes:
            if _started(process):
                process.join(max(0.0, deadline - time.monotonic()))
        return self.alive()

    # ------------------------------------------------------------------ ending
    def close(
        self, *, timeout: float | None = None, stacks: bool = True
    ) -> list[proctree.ProcessInfo]:
        """End every process of the group; raise :class:`ProcessGroupError` if any was killed.

        Daemon processes are terminated without a report. The others are joined
        within ``timeout`` (default: the group's); a process still running then is
        reported (with its stack unless ``stacks=False``), terminated, then killed.
        Descendants still running after their parents ended are killed and reported
        as left behind.
        Returns the :class:`~pytest_mpcheck.proctree.ProcessInfo` of everything killed
        (when it does not raise, that is only daemons and their descendants).
        """
        if self._closed:
            return []
        self._closed = True
        started = [p for p in self._processes if _started(p)]
        self.refresh()

        daemons = [p for p in started if p.daemon and p.is_alive()]
        for process in daemons:
            with contextlib.suppress(Exception):
                process.terminate()

        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, wait)
        for process in started:
            if not process.daemon:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in daemons:
            process.join(TERMINATE_GRACE)

        stuck = [p for p in started if p.is_alive() and not p.daemon]
        report = ""
        if stuck and stacks:
            report = hang_report({p.pid: p.name for p in stuck if p.pid is not None})
        stuck_infos = [_info(p) for p in stuck if p.pid is not None]

        # A live descendant that does not descend from a stuck process or a daemon
        # was left running by a process that has ended: report it as left behind.
        ending = {p.pid for p in stuck + daemons if p.pid is not None}
        orphans = [proc for proc in self.refresh() if not _descends_from(proc, ending)]
        left_behind = [proctree.describe(proc) for proc in orphans]

        # Processes first (terminate, then kill, with their trees), then their groups,
        # then every descendant ever seen (found even after a re-parenting).
        killed = proctree.kill_tree(list(ending), terminate_grace=TERMINATE_GRACE)
        for pgid in self._groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        remaining = [
            proc
            for pid, ctime in self._descendants.items()
            if (proc := _same(pid, ctime)) is not None and _alive(proc)
        ]
        killed += proctree.kill_tree(remaining)
        for process in started:
            # Reap the zombies and free the process objects' resources.
            process.join(TERMINATE_GRACE)
            with contextlib.suppress(ValueError, AttributeError):
                process.close()

        if stuck_infos or left_behind:
            raise ProcessGroupError(self._message(stuck_infos, left_behind, wait, report))
        return killed

    def _message(
        self,
        stuck: list[proctree.ProcessInfo],
        left_behind: list[proctree.ProcessInfo],
        wait: float,
        report: str,
    ) -> str:
        parts: list[str] = []
        if stuck and wait > 0:
            parts.append(
                _(
                    "{group}: {count} process(es) still running {seconds:g} s after the test "
                    "ended; they were terminated, then killed:"
                ).format(group=self.name, count=len(stuck), seconds=wait)
            )
        elif stuck:
            parts.append(
                _(
                    "{group}: {count} process(es) still running when the test was ended; "
                    "they were terminated, then killed:"
                ).format(group=self.name, count=len(stuck))
            )
        if stuck:
            parts += [f"  {info}" for info in stuck]
            parts.append(
                _(
                    "Join every process the test starts, and make sure each one can finish "
                    "(a sentinel for each consumer, a queue drained before join)."
                )
            )
        if left_behind:
            parts.append(
                _(
                    "{group}: {count} descendant process(es) left running after their parent "
                    "ended; they were killed:"
                ).format(group=self.name, count=len(left_behind))
            )
            parts += [f"  {info}" for info in left_behind]
        if report:
            parts.append(report)
        return "\n".join(parts)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _descends_from(proc: psutil.Process, pids: set[int]) -> bool:
    try:
        return any(parent.pid in pids for parent in proc.parents())
    except psutil.Error:
        return True  # gone: nothing to report about it


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _started(process: BaseProcess) -> bool:
    try:
        return process.pid is not None
    except ValueError:  # closed
        return False


def _info(process: BaseProcess) -> proctree.ProcessInfo:
    """pid, the name the test gave the process, and its command line."""
    assert process.pid is not None
    try:
        cmdline = proctree.describe(psutil.Process(process.pid)).cmdline
    except psutil.Error:
        cmdline = "?"
    return proctree.ProcessInfo(process.pid, process.name, cmdline)


def _same(pid: int, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return None
    try:
        return proc if abs(proc.create_time() - create_time) < 0.01 else None
    except psutil.Error:
        return None
