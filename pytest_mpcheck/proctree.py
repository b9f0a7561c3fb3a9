"""Process trees: find every descendant of a process and end them all, with psutil.

Shared by the fixtures, the leak guard and the sandbox that runs learners' code.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

__all__ = ["ProcessInfo", "descendants", "describe", "kill_session", "kill_tree"]


@dataclass(frozen=True)
class ProcessInfo:
    """What a report says about one process: pid, name and command line."""

    pid: int
    name: str
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name}): {self.cmdline}"


def describe(proc: psutil.Process) -> ProcessInfo:
    """Return a :class:`ProcessInfo` for ``proc``, tolerating a process that is gone."""
    try:
        with proc.oneshot():
            name = proc.name()
            cmdline = " ".join(proc.cmdline()) or name
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        name, cmdline = "?", "?"
    return ProcessInfo(proc.pid, name, cmdline)


def descendants(pid: int) -> list[psutil.Process]:
    """Return every live descendant of ``pid`` (empty when ``pid`` is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def _session_members(sid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid != os.getpid() and os.getsid(proc.pid) == sid:
                members.append(proc)
    return members


def kill_tree(
    roots: Iterable[int | psutil.Process],
    *,
    include_roots: bool = True,
    terminate_grace: float = 0.0,
    timeout: float = 2.0,
) -> list[ProcessInfo]:
    """End ``roots`` and all their descendants; return those that were still alive.

    Descendants are collected before anything is signalled, so a child re-parented
    by its parent's death is still found. With ``terminate_grace`` > 0 the
    processes get SIGTERM first and that long to exit; whatever is left gets
    SIGKILL. Never waits longer than ``terminate_grace + timeout`` in total.
    """
    procs: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            proc = root if isinstance(root, psutil.Process) else psutil.Process(root)
        except psutil.NoSuchProcess:
            continue
        if include_roots:
            procs[proc.pid] = proc
        for child in descendants(proc.pid):
            procs[child.pid] = child
    procs.pop(os.getpid(), None)
    alive = [p for p in procs.values() if _alive(p)]
    killed = [describe(p) for p in alive]
    if terminate_grace > 0 and alive:
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(alive, timeout=terminate_grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return killed


def kill_session(sid: int, *, timeout: float = 2.0) -> list[ProcessInfo]:
    """SIGKILL every process of session ``sid`` (as started with ``start_new_session``).

    Catches processes that escaped their parent's tree but not the session (a
    double fork). The process group is signalled first so that a fork flood cannot
    outrun a one-by-one scan.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGKILL)
    members = _session_members(sid)
    return kill_tree(members, timeout=timeout)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
