"""Where a stuck process is blocked: Python stacks from ``py-spy dump``, trimmed for a learner.

When a deadline expires, the fixtures, the sandbox and the assertions call
:func:`dump_stacks` with the pids still alive and put :func:`format_stacks` into
the failure report. ``py-spy`` reads the target's memory from outside (ptrace),
so it needs no cooperation from the stuck process: a signal handler installed in
the parent would reach a child only through ``fork``, never under ``spawn`` or
``forkserver``, and a process spinning in a busy loop never runs one anyway.

The trimmed view keeps what helps a learner: the frames of their own files and
the library call they are blocked in (``Queue.get``, ``BaseProcess.join``, ...),
and drops multiprocessing's bootstrap, pytest's frames and the frames a fork
child inherits from its parent. ``--mpcheck-full-stacks`` (or ``full=True``)
keeps everything.
"""

from __future__ import annotations

import contextlib
import json
import linecache
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_mpcheck.i18n import _

__all__ = [
    "DEFAULT_TIMEOUT",
    "ProcessStack",
    "StackFrame",
    "ThreadStack",
    "dump_stacks",
    "find_py_spy",
    "format_stacks",
    "full_stacks_default",
]

#: Seconds the whole dump may take (all pids are dumped concurrently).
DEFAULT_TIMEOUT = 10.0

#: Environment variable through which the configured default reaches child
#: processes (the sandbox's child calls :func:`dump_stacks` too).
FULL_STACKS_ENV = "MPCHECK_FULL_STACKS"

#: Environment variable naming the py-spy binary to use (tests point it elsewhere).
PY_SPY_ENV = "MPCHECK_PY_SPY"

FULL_STACKS_HELP = (
    "show the complete Python stack of every stuck process in hang reports "
    "(default: only the test's own frames and the call it is blocked in)"
)

# How many frames a thread without any learner frame keeps in the trimmed view.
_MAX_LIBRARY_FRAMES = 6

# Library directories: the standard library and installed packages. A frame from
# anywhere else (the exercises, a student's folder, a test file) is the learner's.
_LIBRARY_PATH = re.compile(r"[/\\](?:lib|Lib)[/\\](?:python\d+(?:\.\d+)?[/\\]|site-packages)")
_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep

# Frames that start a process or a thread: never interesting in a trimmed view.
_BOOTSTRAP_FUNCTIONS = {
    "BaseProcess._bootstrap",
    "BaseProcess.run",
    "Thread._bootstrap",
    "Thread._bootstrap_inner",
    "Thread.run",
}

# A process that finished its target and now waits, at exit, for its queue's
# feeder thread to push buffered items into a pipe that nobody reads.
_FLUSH_FUNCTIONS = {"Queue._finalize_join"}

# Python 3.10 has no co_qualname, so py-spy gives bare names there ("get"); name
# the calls a report is about as 3.11+ does, so reports and diagnoses read alike.
_QUALIFIED = {
    ("multiprocessing/queues.py", "get"): "Queue.get",
    ("multiprocessing/queues.py", "put"): "Queue.put",
    ("multiprocessing/queues.py", "join"): "JoinableQueue.join",
    ("multiprocessing/queues.py", "_feed"): "Queue._feed",
    ("multiprocessing/queues.py", "_finalize_join"): "Queue._finalize_join",
    ("multiprocessing/process.py", "join"): "BaseProcess.join",
    ("multiprocessing/process.py", "start"): "BaseProcess.start",
    ("multiprocessing/process.py", "run"): "BaseProcess.run",
    ("multiprocessing/process.py", "_bootstrap"): "BaseProcess._bootstrap",
    ("multiprocessing/popen_fork.py", "wait"): "Popen.wait",
    ("multiprocessing/popen_fork.py", "poll"): "Popen.poll",
    ("multiprocessing/managers.py", "_callmethod"): "BaseProxy._callmethod",
    ("threading.py", "join"): "Thread.join",
    ("threading.py", "run"): "Thread.run",
    ("threading.py", "_bootstrap"): "Thread._bootstrap",
    ("threading.py", "_bootstrap_inner"): "Thread._bootstrap_inner",
    ("threading.py", "_wait_for_tstate_lock"): "Thread._wait_for_tstate_lock",
    ("queue.py", "get"): "Queue.get",
}

_full_default: bool | None = None


@dataclass(frozen=True)
class StackFrame:
    """One frame of a dumped stack."""

    function: str
    file: str
    short_file: str
    line: int
    #: ``"learner"`` (the test's or student's own file), ``"library"`` (standard
    #: library, installed packages) or ``"tool"`` (pytest-mpcheck itself).
    kind: str
    #: The source line, when the file could be read.
    code: str = ""

    def location(self) -> str:
        """``file:line`` with the full path for the learner's files."""
        name = self.file if self.kind == "learner" else self.short_file
        return f"{name}:{self.line}"


@dataclass(frozen=True)
class ThreadStack:
    """The stack of one thread, outermost frame first (as in a Python traceback)."""

    name: str
    thread_id: int
    #: ``True`` when py-spy saw the thread waiting (in a blocking call), ``False``
    #: when it was running (a busy loop, a long computation).
    idle: bool
    frames: tuple[StackFrame, ...]
    #: How many frames the trimmed view left out.
    hidden: int = 0
    #: Index in ``frames`` of the call the thread is blocked in, if known.
    blocking_index: int | None = None

    @property
    def blocking_call(self) -> StackFrame | None:
        """The library call the learner's code is blocked in (``Queue.get``, ...)."""
        if self.blocking_index is None:
            return None
        return self.frames[self.blocking_index]

    @property
    def innermost_learner_frame(self) -> StackFrame | None:
        """The learner's frame closest to where the thread is."""
        for frame in reversed(self.frames):
            if frame.kind == "learner":
                return frame
        return None


@dataclass(frozen=True)
class ProcessStack:
    """Where one process is: its threads' stacks, or why they are unavailable."""

    pid: int
    role: str
    threads: tuple[ThreadStack, ...] = ()
    #: ``None`` when the dump worked; otherwise a learner-facing reason.
    error: str | None = None
    #: Threads the trimmed view left out (multiprocessing's helper threads).
    hidden_threads: int = 0
    #: Every function name seen in every thread, untrimmed (for diagnoses).
    all_functions: tuple[str, ...] = ()
    full: bool = False
    command: str = field(default="", compare=False)
    #: ``True`` when there was no stack because the process had already exited.
    exited: bool = False
    #: ``True`` for multiprocessing's own helper processes: a forkserver's server
    #: (not a process it forked) or the resource tracker.
    helper: bool = False

    @property
    def available(self) -> bool:
        """Whether a stack was obtained."""
        return self.error is None

    @property
    def main_thread(self) -> ThreadStack | None:
        """The main thread (the first thread py-spy lists when there is no "MainThread")."""
        for thread in self.threads:
            if thread.name == "MainThread":
                return thread
        return self.threads[0] if self.threads else None

    @property
    def flushing_queue(self) -> bool:
        """Whether the process is stuck at exit flushing a queue nobody drains."""
        return any(name in _FLUSH_FUNCTIONS for name in self.all_functions)

    @property
    def blocked_in(self) -> str | None:
        """The function name of the main thread's blocking call, if any."""
        main = self.main_thread
        call = main.blocking_call if main is not None else None
        return call.function if call is not None else None

    @property
    def busy(self) -> bool:
        """Whether the main thread was running rather than waiting."""
        main = self.main_thread
        return main is not None and not main.idle

    def format(self) -> str:
        """The learner-facing text of this process's stack."""
        return format_stacks([self], header=False)


def full_stacks_default() -> bool:
    """Whether hang reports show full stacks: ``--mpcheck-full-stacks`` or the environment."""
    if _full_default is not None:
        return _full_default
    return os.environ.get(FULL_STACKS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def find_py_spy() -> str | None:
    """Return the path of the ``py-spy`` binary: beside ``sys.executable``, else on PATH."""
    configured = os.environ.get(PY_SPY_ENV)
    if configured is not None:
        return configured if configured and os.access(configured, os.X_OK) else None
    beside = Path(sys.executable).parent / ("py-spy.exe" if os.name == "nt" else "py-spy")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def dump_stacks(
    pids: Mapping[int, str],
    *,
    full: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ProcessStack]:
    """Dump the Python stack of each process in ``pids`` (pid -> role or name).

    The dumps run concurrently, so a report over eight processes takes about as
    long as one; the whole call returns within about ``timeout`` seconds. A
    process whose stack cannot be read (gone, not Python, py-spy missing or not
    permitted) gets a :class:`ProcessStack` whose ``error`` says why. ``full=None``
    follows ``--mpcheck-full-stacks``.
    """
    if full is None:
        full = full_stacks_default()
    items = list(pids.items())
    if not items:
        return []
    py_spy = find_py_spy()
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        futures = [
            pool.submit(_dump_one, pid, role, py_spy=py_spy, full=full, deadline=deadline)
            for pid, role in items
        ]
        return [f.result() for f in futures]


def format_stacks(stacks: Iterable[ProcessStack], *, header: bool = True) -> str:
    """Format ``stacks`` as the learner reads them: most recent call last, like a traceback."""
    stacks = list(stacks)
    if not stacks:
        return ""
    lines: list[str] = []
    if header:
        lines.append(_("Where each process still alive is stuck (most recent call last):"))
    for stack in stacks:
        lines.extend(_format_process(stack))
    return "\n".join(lines)


# --------------------------------------------------------------------------- dumping


def _dump_one(
    pid: int, role: str, *, py_spy: str | None, full: bool, deadline: float
) -> ProcessStack:
    command = _command_of(pid)
    if not _is_alive(pid):
        return ProcessStack(
            pid, role, error=_("the process has already exited"), full=full, exited=True
        )
    if py_spy is None:
        return ProcessStack(
            pid,
            role,
            error=_("py-spy is not installed (pip install py-spy)"),
            full=full,
            command=command,
        )
    env = dict(os.environ, RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
    # Two dumps of one process at once (the fixtures' and the kit's reports, say)
    # collide: the second cannot suspend it (EPERM). So a failure is tried again,
    # once without suspending the process (--nonblocking), then once more as usual.
    attempts: list[tuple[float, list[str]]] = [(0.0, []), (0.1, ["--nonblocking"]), (0.3, [])]
    done: subprocess.CompletedProcess[str] | None = None
    for pause, extra in attempts:
        if done is not None:
            if done.returncode == 0 or not _is_alive(pid):
                break
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        remaining = max(0.5, deadline - time.monotonic())
        try:
            done = subprocess.run(
                [py_spy, "dump", "--pid", str(pid), "--json", *extra],
                capture_output=True,
                text=True,
                timeout=remaining,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ProcessStack(
                pid,
                role,
                error=_("py-spy did not answer within {seconds:.0f} s").format(seconds=remaining),
                full=full,
                command=command,
            )
        except OSError as exc:
            return ProcessStack(
                pid,
                role,
                error=_("py-spy could not run: {error}").format(error=exc),
                full=full,
                command=command,
            )
    assert done is not None
    if done.returncode != 0:
        return ProcessStack(
            pid,
            role,
            error=_explain_failure(pid, done.stderr),
            full=full,
            command=command,
            exited=not _is_alive(pid),
        )
    try:
        raw = json.loads(done.stdout)
    except ValueError:
        return ProcessStack(
            pid,
            role,
            error=_("py-spy gave output that is not JSON"),
            full=full,
            command=command,
        )
    return _parse(pid, role, raw, full=full, command=command)


def _explain_failure(pid: int, stderr: str) -> str:
    text = stderr.strip()
    lowered = text.lower()
    if not _is_alive(pid):
        return _("the process has already exited")
    if "permission denied" in lowered or "operation not permitted" in lowered:
        return _(
            "py-spy is not permitted to read the process (ptrace): run as the same user "
            "with kernel.yama.ptrace_scope=0, or as root"
        )
    if "python version" in lowered or "python interpreter" in lowered:
        return _("not a Python process")
    first = ""
    for line in text.splitlines():
        if line.strip():
            first = line.strip()
            break
    first = first.removeprefix("Error:").strip() or _("unknown error")
    return _("py-spy failed: {reason}").format(reason=first)


def _is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _command_of(pid: int) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(psutil.Process(pid).cmdline())
    return ""


def _classify(filename: str) -> str:
    if filename.startswith("<"):
        return "library"
    if filename.startswith(_PACKAGE_DIR):
        return "tool"
    if _LIBRARY_PATH.search(filename):
        return "library"
    return "learner"


def _parse(pid: int, role: str, raw: Any, *, full: bool, command: str) -> ProcessStack:
    threads: list[ThreadStack] = []
    all_functions: list[str] = []
    hidden_threads = 0
    helper = False
    entries = raw if isinstance(raw, list) else []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        frames: list[StackFrame] = []
        for raw_frame in reversed(entry.get("frames") or []):  # outermost first
            filename = str(raw_frame.get("filename") or "?")
            short = str(raw_frame.get("short_filename") or filename)
            function = str(raw_frame.get("name") or "?")
            line = int(raw_frame.get("line") or 0)
            kind = _classify(filename)
            if kind == "library" and "." not in function:
                function = _QUALIFIED.get((short.replace("\\", "/"), function), function)
            code = ""
            if kind == "learner" and line > 0:
                code = linecache.getline(filename, line).strip()
            frames.append(
                StackFrame(
                    function=function,
                    file=filename,
                    short_file=short,
                    line=line,
                    kind=kind,
                    code=code,
                )
            )
        all_functions.extend(f.function for f in frames)
        name = str(entry.get("thread_name") or entry.get("thread_id") or "?")
        if name == "MainThread":
            helper = _is_helper(frames)
        thread = _trim(
            ThreadStack(
                name=name,
                thread_id=int(entry.get("os_thread_id") or entry.get("thread_id") or 0),
                idle=not bool(entry.get("active")),
                frames=tuple(frames),
            ),
            full=full,
        )
        if (
            not full
            and name != "MainThread"
            and not any(f.kind == "learner" for f in thread.frames)
        ):
            # multiprocessing's own helper threads (queue feeders, pool handlers).
            hidden_threads += 1
            continue
        threads.append(thread)
    if not threads and hidden_threads == 0:
        return ProcessStack(
            pid, role, error=_("py-spy found no Python thread"), full=full, command=command
        )
    return ProcessStack(
        pid,
        role,
        threads=tuple(threads),
        hidden_threads=hidden_threads,
        all_functions=tuple(all_functions),
        full=full,
        command=command,
        helper=helper,
    )


def _is_helper(frames: Sequence[StackFrame]) -> bool:
    """Whether a main thread's frames are those of a forkserver server or resource tracker.

    The command line cannot tell: a process the forkserver forks keeps the server's.
    Its stack can: a forked process goes on into ``_serve_one`` and its bootstrap.
    """
    files = {f.short_file.replace("\\", "/") for f in frames}
    names = {f.function.rsplit(".", 1)[-1] for f in frames}
    if "_serve_one" in names or "_bootstrap" in names:
        return False
    return (
        "multiprocessing/forkserver.py" in files or "multiprocessing/resource_tracker.py" in files
    )


def _trim(thread: ThreadStack, *, full: bool) -> ThreadStack:
    frames = list(thread.frames)
    # A child's stack starts with the frames that started it: under fork even the
    # parent's frames up to Process.start(). Its own story begins after the
    # innermost bootstrap frame.
    start = 0
    for i, frame in enumerate(frames):
        if frame.function in _BOOTSTRAP_FUNCTIONS:
            start = i + 1
    blocking = _blocking_index(frames, start)
    if full:
        return ThreadStack(thread.name, thread.thread_id, thread.idle, tuple(frames), 0, blocking)
    kept: list[StackFrame] = []
    new_blocking: int | None = None
    if any(f.kind == "learner" for f in frames[start:]):
        for i in range(start, len(frames)):
            frame = frames[i]
            if frame.kind == "learner":
                kept.append(frame)
            elif i == blocking:
                new_blocking = len(kept)
                kept.append(frame)
            elif (
                blocking is not None and i == blocking + 1 and frames[blocking].file.startswith("<")
            ):
                # The blocking call is a proxy method generated with exec()
                # (Manager queues): keep the real call behind it too.
                kept.append(frame)
    else:
        kept = frames[start:][-_MAX_LIBRARY_FRAMES:]
    hidden = len(frames) - len(kept)
    return ThreadStack(
        thread.name, thread.thread_id, thread.idle, tuple(kept), hidden, new_blocking
    )


def _blocking_index(frames: Sequence[StackFrame], start: int) -> int | None:
    """Index of the library call the learner's innermost frame is blocked in, if any.

    pytest-mpcheck's own wrappers (a recording queue) between the learner's
    frame and the library are skipped: the learner called ``q.get()``.
    """
    learner = [i for i in range(start, len(frames)) if frames[i].kind == "learner"]
    if not learner:
        return None
    for i in range(learner[-1] + 1, len(frames)):
        if frames[i].kind == "library":
            return i
    return None  # the learner's own line is where it is (time.sleep, a busy loop)


# -------------------------------------------------------------------------- formatting


def _format_process(stack: ProcessStack) -> list[str]:
    title = _("{role} (pid {pid})").format(role=stack.role, pid=stack.pid)
    if stack.error is not None:
        return [
            title + ": " + _("stack unavailable: {reason}").format(reason=stack.error),
        ]
    lines: list[str] = []
    main = stack.main_thread
    if main is not None and not main.idle:
        state = _("running (busy, not waiting for anything)")
    elif stack.flushing_queue:
        state = _("finished its work but is blocked at exit, flushing a queue that nobody drains")
    elif main is not None and main.blocking_call is not None:
        call = main.blocking_call
        if call.file.startswith("<") and call.function.isidentifier():
            # A method of a Manager proxy, generated with exec().
            state = _("waiting in {call} (a Manager proxy)").format(call=call.function)
        else:
            state = _("waiting in {call}").format(call=call.function)
    else:
        state = _("waiting")
    lines.append(f"{title}: {state}")
    for thread in stack.threads:
        if len(stack.threads) > 1 or thread.name != "MainThread":
            lines.append("  " + _("thread {name}:").format(name=thread.name))
        for index, frame in enumerate(thread.frames):
            marker = ""
            if index == thread.blocking_index:
                marker = "   <-- " + _("blocked here")
            elif (
                thread.blocking_index is None
                and frame is thread.innermost_learner_frame
                and index == len(thread.frames) - 1
            ):
                marker = "   <-- " + (_("running here") if not thread.idle else _("waiting here"))
            name = frame.file if frame.kind == "learner" else frame.short_file
            lines.append(
                "    "
                + _('File "{file}", line {line}, in {function}').format(
                    file=name, line=frame.line, function=frame.function
                )
                + marker
            )
            if frame.code:
                lines.append("      " + frame.code)
        if thread.hidden and not stack.full:
            lines.append(
                "    "
                + _("({count} more frames hidden; --mpcheck-full-stacks shows them)").format(
                    count=thread.hidden
                )
            )
    return lines


# ---------------------------------------------------------------------------- plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mpcheck-full-stacks`` and its ini twin to the ``mpcheck`` group."""
    from pytest_mpcheck.plugin import option_group

    option_group(parser).addoption(
        "--mpcheck-full-stacks",
        action="store_true",
        default=None,
        dest="mpcheck_full_stacks",
        help=FULL_STACKS_HELP,
    )
    parser.addini("mpcheck_full_stacks", FULL_STACKS_HELP, type="bool", default=False)


_saved_env: list[str | None] = []


def pytest_configure(config: pytest.Config) -> None:
    """Make the full-stacks choice the default of :func:`dump_stacks` in this run.

    The choice also goes into the environment so that child processes (the
    sandbox's supervised child, which dumps its own children) follow it.
    """
    global _full_default
    option = config.getoption("mpcheck_full_stacks", default=None)
    full = bool(option) if option is not None else bool(config.getini("mpcheck_full_stacks"))
    _saved_env.append(os.environ.get(FULL_STACKS_ENV))
    _full_default = full
    if full:
        os.environ[FULL_STACKS_ENV] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the default and the environment changed in :func:`pytest_configure`."""
    global _full_default
    _full_default = None
    if _saved_env:
        previous = _saved_env.pop()
        if previous is None:
            os.environ.pop(FULL_STACKS_ENV, None)
        else:
            os.environ[FULL_STACKS_ENV] = previous
