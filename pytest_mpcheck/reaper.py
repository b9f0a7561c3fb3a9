"""The watchdog that ends our processes when pytest itself dies, even by SIGKILL.

:func:`watch` hands a pid to a small watchdog process, started on first use in each
pytest process (so each pytest-xdist worker has its own). The watchdog holds the
read end of a pipe from pytest and polls its parent pid; when the pipe reaches EOF
or its parent changes, pytest is gone (SIGKILL, ``os._exit`` from pytest-timeout's
thread method, or a normal exit); in a pytest-xdist worker it also watches the
controller. Then the watchdog kills, within well under 2 s:

* every watched pid that is still the same process (pid and start time match);
* the process group of a watched pid that leads its own group (the fixtures'
  children do), and the session of one that leads its own session (the sandbox's);
* every descendant of a watched pid it has seen: it records them twice a second,
  so a grandchild re-parented when its parent died is still known.

This module is also run as the watchdog itself, loaded from its file without the
package (see :func:`_spawn_watchdog`), so it imports only the standard library and
psutil at module level.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import psutil

__all__ = ["descendant_pids", "helper_pids", "watch", "watchdog_pid"]

#: How often the watchdog checks that pytest is alive (seconds).
_POLL_INTERVAL = 0.1
#: How often it records the descendants of watched processes (seconds).
_SCAN_INTERVAL = 0.5


class _Watchdog:
    """pytest's side of one watchdog process: the pipe and the pid it was started for."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        loader = (
            "import importlib.util as u, sys\n"
            "s = u.spec_from_file_location('_mpcheck_reaper', sys.argv[1])\n"
            "m = u.module_from_spec(s)\n"
            "s.loader.exec_module(m)\n"
            "m._watchdog_main(int(sys.argv[2]), int(sys.argv[3]))\n"
        )
        # In a pytest-xdist worker, the controller (the worker's parent) dying ends
        # the run too: the worker would follow only once it notices, seconds later.
        controller = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else 0
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                loader,
                os.path.abspath(__file__),
                str(self.owner),
                str(controller),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            # Its own session: a Ctrl-C meant for pytest must not end the watchdog
            # before pytest has cleaned up.
            start_new_session=True,
            close_fds=True,
        )
        assert self.proc.stdin is not None
        self.pipe = self.proc.stdin
        self.fd = self.pipe.fileno()
        self.lock = threading.Lock()

    def send(self, line: str) -> None:
        data = line.encode() + b"\n"
        with self.lock:
            # One unbuffered write: lines are far below PIPE_BUF, so each is atomic.
            os.write(self.fd, data)


_watchdog: _Watchdog | None = None
_watchdog_lock = threading.Lock()


def _close_pipe_in_fork_child() -> None:
    # A child forked from pytest (the fork start method) would otherwise keep the
    # pipe's write end open, and the watchdog would not see EOF when pytest dies.
    # The watchdog also polls its parent pid, so this is belt and braces.
    global _watchdog, _watchdog_lock
    # The lock may have been held by another thread at the fork: a new one.
    _watchdog_lock = threading.Lock()
    if _watchdog is not None:
        _retire(_watchdog)
        _watchdog = None


def _retire(watchdog: _Watchdog) -> None:
    """Close our end of ``watchdog``'s pipe and keep the object for good.

    Closing through the file object closes the descriptor exactly once; keeping
    the object stops its ``Popen`` from being finalized in a process that is not
    the watchdog's parent (a fork child), which would warn or close twice.
    """
    with contextlib.suppress(OSError, ValueError):
        watchdog.pipe.close()
    _retired.append(watchdog)


_retired: list[_Watchdog] = []


def _stop_at_exit() -> None:
    # On a normal exit, close the pipe and give the watchdog a moment to reap what
    # is left and exit (it polls every 0.1 s), so that nothing of ours outlives
    # pytest even briefly and its Popen is not finalized while it still runs.
    watchdog = _watchdog
    if watchdog is None or watchdog.owner != os.getpid():
        return
    with contextlib.suppress(OSError, ValueError):
        watchdog.pipe.close()
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        watchdog.proc.wait(timeout=1.0)


atexit.register(_stop_at_exit)

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_pipe_in_fork_child)


def _get_watchdog() -> _Watchdog:
    global _watchdog
    with _watchdog_lock:
        # A watchdog that died is noticed when a write fails (EPIPE), not polled here.
        if _watchdog is None or _watchdog.owner != os.getpid():
            if _watchdog is not None:
                _retire(_watchdog)
            _watchdog = _Watchdog()
        return _watchdog


def watch(pid: int) -> None:
    """Have ``pid`` (with its process group, session and descendants) killed if pytest dies.

    Starts this process's watchdog on first use (about 50 ms). A pid that is gone
    by the time the watchdog reads it (within 0.1 s) is ignored. Never raises: a
    watchdog that cannot be reached is not worth failing a test for.
    """
    # The watchdog reads the start time itself (telling a reused pid apart): that
    # keeps this call to one write on a pipe, a few microseconds.
    for _attempt in range(2):
        try:
            _get_watchdog().send(f"watch {pid}")
            return
        except (OSError, ValueError):
            # The watchdog died (someone killed it): start a new one once.
            global _watchdog
            if _watchdog is not None:
                _retire(_watchdog)
            _watchdog = None


def watchdog_pid() -> int | None:
    """Return the pid of this process's watchdog, or ``None`` if none was started."""
    wd = _watchdog
    if wd is None or wd.owner != os.getpid():
        return None
    return wd.proc.pid


def helper_pids() -> set[int]:
    """The pids of pytest-mpcheck's own helper processes (the watchdog), never leaks."""
    pid = watchdog_pid()
    return set() if pid is None else {pid}


# --------------------------------------------------------------------------- #
# The watchdog process itself.


def _same_process(pid: int, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.01:
            return None
        return proc
    except psutil.Error:
        return None


# No /proc (macOS): descendants come from psutil instead.
_HAVE_PROC_TASKS = os.path.isdir(f"/proc/{os.getpid()}/task")


def _proc_children(pid: int) -> list[int] | None:
    """Direct children from /proc/PID/task/*/children (Linux), or ``None`` without it."""
    if not _HAVE_PROC_TASKS:
        return None
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    except OSError:
        return None
    children: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended meanwhile
            return None  # a kernel without CONFIG_PROC_CHILDREN
        except (OSError, ValueError):
            continue
    return children


def descendant_pids(proc: psutil.Process) -> list[int]:
    """Every descendant of ``proc``, cheaply.

    On Linux this walks /proc/PID/task/*/children, which costs in proportion to
    the tree, where psutil reads the parent of every process on the machine: the
    watchdog scans twice a second and should not load a busy machine.
    """
    found: list[int] = []
    todo = [proc.pid]
    while todo:
        children = _proc_children(todo.pop())
        if children is None:
            with contextlib.suppress(psutil.Error):
                return [child.pid for child in proc.children(recursive=True)]
            return found
        found += children
        todo += children
    return found


class _Reaper:
    """The watchdog's state: what to kill when pytest dies."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.protected_groups = {os.getpgid(0)}
        with contextlib.suppress(OSError):
            self.protected_groups.add(os.getpgid(parent))
        self.watched: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self.groups: set[int] = set()
        self.sessions: set[int] = set()

    def add(self, pid: int, create_time: float) -> None:
        self.watched[pid] = create_time
        self._note_group(pid)

    def _note_group(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            pgid = os.getpgid(pid)
            if pgid == pid and pgid not in self.protected_groups:
                self.groups.add(pgid)
        with contextlib.suppress(OSError):
            if os.getsid(pid) == pid:
                self.sessions.add(pid)

    def scan(self) -> None:
        """Record the descendants of live watched processes; forget dead ones."""
        for pid, create_time in list(self.watched.items()):
            proc = _same_process(pid, create_time)
            if proc is None:
                del self.watched[pid]
                continue
            # A fixture's child moves into its own process group right after start.
            self._note_group(pid)
            for child in descendant_pids(proc):
                if child not in self.seen:
                    with contextlib.suppress(psutil.Error):
                        self.seen[child] = psutil.Process(child).create_time()
        for pid, create_time in list(self.seen.items()):
            if _same_process(pid, create_time) is None:
                del self.seen[pid]

    def reap(self) -> None:
        """Kill everything watched: groups and sessions first, then each known pid."""
        me = os.getpid()
        with contextlib.suppress(Exception):
            self.scan()
        # Descendants are collected again right before killing, then the process
        # groups are signalled (a fork loop cannot outrun a group kill), then each pid.
        for pgid in self.groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        for sid in self.sessions:
            with contextlib.suppress(OSError):
                os.killpg(sid, signal.SIGKILL)
            for member in psutil.process_iter():
                with contextlib.suppress(psutil.Error, OSError):
                    if member.pid != me and os.getsid(member.pid) == sid:
                        member.kill()
        for pid, create_time in [*self.watched.items(), *self.seen.items()]:
            proc = _same_process(pid, create_time)
            if proc is not None and proc.pid != me:
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def _read_available(fd: int) -> tuple[bytes, bool]:
    """Everything waiting on the non-blocking ``fd``, and whether it reached EOF."""
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return b"".join(chunks), False
        if not data:
            return b"".join(chunks), True
        chunks.append(data)


def _still_there(pid: int, create_time: float | None) -> bool:
    if not pid or create_time is None:
        return True
    try:
        return psutil.Process(pid).create_time() == create_time
    except psutil.Error:
        return False


def _watchdog_main(parent: int, controller: int = 0) -> None:
    """Run the watchdog: read ``watch PID`` lines; reap when pytest is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reaper = _Reaper(parent)
    controller_time: float | None = None
    if controller:
        with contextlib.suppress(psutil.Error):
            controller_time = psutil.Process(controller).create_time()
    buffer = b""
    stdin = sys.stdin.fileno()
    # Polled rather than waited on: a watchdog blocked in select() would be woken
    # by every write, and on a busy machine each wake-up costs pytest a context
    # switch (milliseconds per started process). Polling keeps watch() to a write.
    os.set_blocking(stdin, False)
    next_scan = time.monotonic() + _SCAN_INTERVAL
    while True:
        time.sleep(_POLL_INTERVAL)
        data, eof = _read_available(stdin)
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            parts = line.decode(errors="replace").split()
            if len(parts) == 2 and parts[0] == "watch":
                with contextlib.suppress(ValueError, psutil.Error):
                    pid = int(parts[1])
                    reaper.add(pid, psutil.Process(pid).create_time())
        if eof or os.getppid() != parent or not _still_there(controller, controller_time):
            break
        now = time.monotonic()
        if now >= next_scan and reaper.watched:
            with contextlib.suppress(Exception):
                reaper.scan()
            next_scan = now + _SCAN_INTERVAL
    reaper.reap()
