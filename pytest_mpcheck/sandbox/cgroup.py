"""A hard cap on a call's processes through the cgroup ``pids`` controller, when we may.

``RLIMIT_NPROC`` does nothing for root (graders' containers often run as root),
and the supervisor's count of processes, taken every 100 ms, can be outrun by a
fork bomb for that long. Where a cgroup v1 ``pids`` hierarchy is mounted and
writable (root on a Linux host or a privileged container), each call gets a
cgroup of its own: the child joins it before any learner code runs, forks
beyond ``pids.max`` fail with ``EAGAIN``, and its member list names every
process of the call, even one that left the tree and the session. Elsewhere
:meth:`PidsCgroup.create` returns ``None`` and the supervisor's watch is all there is.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import time

__all__ = ["PidsCgroup", "available"]


@functools.cache
def _base() -> str | None:
    """The writable directory of this process's pids cgroup (v1), or None."""
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split() for line in f]
        with open("/proc/self/cgroup") as f:
            memberships = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    mount = next(
        (m[1] for m in mounts if len(m) > 3 and m[2] == "cgroup" and "pids" in m[3].split(",")),
        None,
    )
    own = next((m[2] for m in memberships if len(m) == 3 and "pids" in m[1].split(",")), None)
    if mount is None or own is None:
        return None
    base = os.path.join(mount, own.lstrip("/"))
    if not os.access(base, os.W_OK):
        return None
    return base


class PidsCgroup:
    """One call's cgroup: ``pids.max`` set, removed by :meth:`remove`."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls, name: str, limit: int) -> PidsCgroup | None:
        """Make the cgroup ``name`` with ``pids.max = limit``; None where impossible."""
        base = _base()
        if base is None:
            return None
        _sweep(base)
        path = os.path.join(base, f"{_PREFIX}{os.getpid()}-{name}")
        try:
            os.mkdir(path)
        except OSError:
            return None
        group = cls(path)
        try:
            with open(os.path.join(path, "pids.max"), "w") as f:
                f.write(str(limit))
        except OSError:
            group.remove()
            return None
        return group

    @property
    def procs_file(self) -> str:
        """Write ``0`` here to move the writing process into the cgroup."""
        return os.path.join(self.path, "cgroup.procs")

    def members(self) -> list[int]:
        """The pids in the cgroup now."""
        try:
            with open(self.procs_file) as f:
                return [int(line) for line in f if line.strip()]
        except (OSError, ValueError):
            return []

    def tasks(self) -> int | None:
        """How many tasks (processes and threads) it holds now."""
        try:
            with open(os.path.join(self.path, "pids.current")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def peak(self) -> int | None:
        """The most tasks (processes and threads) it held at once, where the kernel says."""
        try:
            with open(os.path.join(self.path, "pids.peak")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def remove(self, timeout: float = 0.5) -> None:
        """Remove the cgroup once empty: a killed member stays in it until it is reaped.

        If that takes longer than ``timeout``, a later call (or the exit of this
        process) removes it, rather than making this call wait.
        """
        deadline = time.monotonic() + timeout
        while not _rmdir(self.path):
            if time.monotonic() >= deadline:
                _pending.add(self.path)
                return
            time.sleep(0.02)


_PREFIX = "mpcheck-"
# Cgroups of this process's calls not empty yet when their call ended.
_pending: set[str] = set()


def _rmdir(path: str) -> bool:
    """True once ``path`` is gone."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _sweep(base: str) -> None:
    """Remove this process's pending cgroups and those of processes that are gone."""
    for path in list(_pending):
        if _rmdir(path):
            _pending.discard(path)
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            if not name.startswith(_PREFIX):
                continue
            owner = name[len(_PREFIX) :].split("-", 1)[0]
            if owner.isdigit() and int(owner) != os.getpid() and not _pid_alive(int(owner)):
                _rmdir(os.path.join(base, name))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@atexit.register
def _remove_pending() -> None:
    deadline = time.monotonic() + 1.0
    while _pending and time.monotonic() < deadline:
        for path in list(_pending):
            if _rmdir(path):
                _pending.discard(path)
        if _pending:
            time.sleep(0.05)


@functools.cache
def available() -> bool:
    """Whether calls get a pids cgroup here."""
    group = PidsCgroup.create("probe", 1000)
    if group is None:
        return False
    with contextlib.suppress(OSError):
        group.remove()
    return True
