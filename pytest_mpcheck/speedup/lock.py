"""One timing measurement at a time on the whole machine: a lock file.

Every speedup measurement holds an exclusive ``flock`` on one file in the temp
directory, so measurements from pytest-xdist workers, from separate pytest runs
and from sandbox children wait for each other instead of poisoning each other's
timings. The wait is bounded; the file names the current holder so the reason a
measurement could not run says who held the machine.

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from pytest_mpcheck.speedup import clock

__all__ = ["DEFAULT_LOCK_NAME", "LockUnavailable", "default_lock_path", "timing_lock"]

DEFAULT_LOCK_NAME = "pytest-mpcheck-timing.lock"
DEFAULT_LOCK_TIMEOUT = 60.0

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no machine-wide lock, measure anyway
    fcntl = None  # type: ignore[assignment]


class LockUnavailable(Exception):
    """The timing lock could not be had within the timeout; ``str()`` says why."""


def default_lock_path() -> Path:
    """Return the machine-wide lock file: ``<tempdir>/pytest-mpcheck-timing.lock``."""
    return Path(tempfile.gettempdir()) / DEFAULT_LOCK_NAME


# Re-entrancy within one process: flock locks belong to an open file, so a second
# open() of the same path in the same process would wait for itself.
_held: dict[str, tuple[int, int]] = {}  # path -> (pid, depth)
_held_guard = threading.Lock()


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text:
            return text
    return "unknown process"


@contextlib.contextmanager
def timing_lock(
    path: str | os.PathLike[str] | None = None,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    poll: float = 0.02,
) -> Iterator[float]:
    """Hold the machine-wide timing lock; yield the seconds spent waiting for it.

    Raises :class:`LockUnavailable` when another process keeps it longer than
    ``timeout`` seconds. Re-entrant within one process.
    """
    lock_path = Path(path) if path is not None else default_lock_path()
    key = str(lock_path)
    pid = os.getpid()
    with _held_guard:
        owner = _held.get(key)
        if owner is not None and owner[0] == pid:
            _held[key] = (pid, owner[1] + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield 0.0
        finally:
            with _held_guard:
                owner = _held[key]
                _held[key] = (pid, owner[1] - 1)
        return
    if fcntl is None:  # pragma: no cover
        yield 0.0
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        # Created by another user: a read-only descriptor can still be flocked.
        fd = os.open(lock_path, os.O_RDONLY)
    try:
        start = clock.monotonic()
        deadline = start + timeout
        wake = threading.Event()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock.monotonic() >= deadline:
                    raise LockUnavailable(
                        f"another timing measurement ({_holder(fd)}) held the machine-wide "
                        f"lock {lock_path} for more than {timeout:g} s"
                    ) from None
                # Event.wait sleeps on a C-level clock: patched `time` cannot shorten it.
                wake.wait(poll)
        waited = clock.monotonic() - start
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {pid}".encode(), 0)
        with _held_guard:
            _held[key] = (pid, 1)
        try:
            yield waited
        finally:
            with _held_guard:
                _held.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            # LOCK_UN releases the lock even if a forked child still has the file open.
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
