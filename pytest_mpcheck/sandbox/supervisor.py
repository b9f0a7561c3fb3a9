"""The supervisor: :func:`run_call` starts, watches, ends and reports one sandboxed call.

It runs in the pytest process and never imports or unpickles learner code. The
child (``child.py``) runs in its own session with a fresh working directory;
this side keeps the deadline on its own clock, drains the child's output,
watches how many processes the call has (``RLIMIT_NPROC`` does nothing for root,
so a fork flood is stopped from here, and by a pids cgroup where one can be
made), and afterwards freezes and kills everything of the call that is still
alive: the child's tree (double-forked orphans included: the child is their
subreaper), its session, its cgroup, every process seen during the call and
every process whose environment carries the call's mark.

The result comes back through a pipe (frames carrying a secret token, see
``protocol.py``), with a file as fallback; it is unpickled by
``safepickle.safe_loads``, never by ``pickle.loads``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import psutil

from pytest_mpcheck.exceptions import MpcheckError
from pytest_mpcheck.i18n import _
from pytest_mpcheck.proctree import ProcessInfo
from pytest_mpcheck.sandbox.cgroup import PidsCgroup
from pytest_mpcheck.sandbox.child import BOOTSTRAP
from pytest_mpcheck.sandbox.outcome import (
    CRASHED,
    IMPORT_ERROR,
    NOT_IMPLEMENTED,
    OK,
    RAISED,
    TIMEOUT,
    CallOutcome,
    signal_name,
)
from pytest_mpcheck.sandbox.protocol import KIND_PHASE, KIND_RESULT, TOKEN_SIZE, FrameReader
from pytest_mpcheck.sandbox.safepickle import UnsafeResultError, safe_loads

__all__ = [
    "CALL_MARK_VAR",
    "DEFAULT_FILE_SIZE_LIMIT",
    "DEFAULT_MAX_PROCESSES",
    "DEFAULT_MEMORY_LIMIT",
    "LOG_VAR",
    "SandboxError",
    "process_cap",
    "run_call",
]

# The supervisor's clock, taken once: nothing of the learner's runs in this process,
# and the deadline and ``duration`` must not depend on anything it could patch.
_clock = time.monotonic

#: When set, each call appends one tab-separated line (module, scenario, method,
#: status, seconds in the supervisor, seconds in the scenario, and when each phase
#: began) to the file it names.
LOG_VAR = "MPCHECK_SANDBOX_LOG"
#: The environment variable that marks every process of one call.
CALL_MARK_VAR = "MPCHECK_SANDBOX_CALL"
#: More processes than this alive at once in one call is a fork flood: the call is ended.
DEFAULT_MAX_PROCESSES = 64
#: RLIMIT_AS of every process of the call (bytes).
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
#: RLIMIT_FSIZE of every process of the call (bytes): no disk filling.
DEFAULT_FILE_SIZE_LIMIT = 64 * 1024**2
# How often the process count is checked (seconds). Each check reads /proc.
_WATCH_INTERVAL = 0.1
# ...and after this long into a call, this often (the cgroup cap and RLIMIT_NPROC,
# where they exist, bound a flood in between).
_WATCH_BACKOFF_AFTER = 2.0
_WATCH_SLOW_INTERVAL = 0.3
# How long to wait for output still in the pipes once every process is gone.
_DRAIN_TIMEOUT = 2.0
# How long the stack dumps of a hang report may take (seconds).
_STACKS_TIMEOUT = 5.0
# At most this many processes get a stack dump in a hang report.
_MAX_STACKS = 8
# Command-line marks of multiprocessing's helper processes: ended silently, never
# reported as the learner's leftovers (they live as long as their parent does).
_HELPER_MARKS = {
    "multiprocessing.resource_tracker": "multiprocessing resource tracker",
    "multiprocessing.semaphore_tracker": "multiprocessing resource tracker",
    "multiprocessing.forkserver": "multiprocessing fork server",
}


class SandboxError(MpcheckError):
    """The sandbox itself failed (for example the scenario cannot be imported)."""


@dataclass
class _Stream:
    """One output pipe: keeps the first ``limit`` bytes, drains and drops the rest."""

    pipe: IO[bytes]
    limit: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0
    closed: bool = False

    def read(self) -> None:
        try:
            chunk = os.read(self.pipe.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def run_call(
    impl_dir: str | os.PathLike[str],
    module: str,
    scenario: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    start_method: str,
    timeout: float,
    probe_dir: str | os.PathLike[str] | None = None,
    output_limit: int = 65536,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    file_size_limit: int | None = DEFAULT_FILE_SIZE_LIMIT,
) -> CallOutcome:
    """Run ``scenario(learner_module, *args, **kwargs)`` in a supervised child process.

    ``scenario`` is ``"package.module:function"``, a top-level function of a
    module importable without the learner's folder; it must return something
    picklable made of builtins and pytest-mpcheck's own data classes (anything
    else is refused on this side rather than unpickled). The learner's module
    ``module`` is loaded from ``impl_dir/module.py`` (never from another folder
    or a stale cache), after ``multiprocessing.set_start_method(start_method,
    force=True)`` in the child. ``MPCHECK_PROBE_DIR`` is ``probe_dir`` in the
    child's environment. After ``timeout`` seconds the call is ended with a
    hang report. When this returns, no process of the call is alive.
    """
    import multiprocessing

    if start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(f"unknown start method {start_method!r}")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    scenario_module, sep, scenario_function = scenario.partition(":")
    if not (sep and scenario_module and scenario_function.isidentifier()):
        raise ValueError(f"scenario must look like 'package.module:function', not {scenario!r}")
    impl = os.path.realpath(os.fspath(impl_dir))
    token = secrets.token_bytes(TOKEN_SIZE)
    call_dir = tempfile.mkdtemp(prefix="mpcheck-sandbox-")
    call: _Call | None = None
    try:
        work_dir = os.path.join(call_dir, "cwd")
        os.mkdir(work_dir)
        result_path = os.path.join(call_dir, secrets.token_hex(16))
        config_path = os.path.join(call_dir, secrets.token_hex(16))
        config: dict[str, Any] = {
            "token": token,
            "result_path": result_path,
            "impl_dir": impl,
            "module": module,
            "scenario": scenario,
            "args": tuple(args),
            "kwargs": dict(kwargs or {}),
            "start_method": start_method,
            "subreaper": sys.platform.startswith("linux"),
            "limits": _limits(timeout, max_processes, memory_limit, file_size_limit),
        }
        env = _child_env(probe_dir)
        call = _Call(token, result_path, output_limit, max_processes, timeout)
        # Every process of the call inherits this variable, so one that escaped
        # both the tree and the session (setsid, then its parent died) is still found.
        env[CALL_MARK_VAR] = call.mark
        call.cgroup = PidsCgroup.create(call.mark, process_cap(max_processes))
        config["cgroup_procs"] = call.cgroup.procs_file if call.cgroup else None
        with open(config_path, "wb") as f:
            pickle.dump(config, f, protocol=pickle.HIGHEST_PROTOCOL)
        outcome = call.run(config_path, work_dir, env)
        _log(outcome, module, scenario, start_method, call)
        return outcome
    finally:
        if call is not None and call.cgroup is not None:
            call.cgroup.remove()
        shutil.rmtree(call_dir, ignore_errors=True)


def process_cap(max_processes: int) -> int:
    """The hard cap on tasks (processes and threads) of a call, where a cgroup enforces it.

    Above ``max_processes``, which the supervisor's watch acts on, because the pids
    controller counts threads too (a Pool has three of its own, a Queue one).
    """
    return 4 * max_processes + 64


def _limits(
    timeout: float, max_processes: int, memory_limit: int | None, file_size_limit: int | None
) -> dict[str, int | None]:
    limits: dict[str, int | None] = {
        "RLIMIT_CORE": 0,  # a segfault writes no core file
        "RLIMIT_CPU": int(timeout * 2) + 10,  # a backstop: the deadline acts first
        "RLIMIT_AS": memory_limit,
        "RLIMIT_FSIZE": file_size_limit,
    }
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        # RLIMIT_NPROC counts every process of the user (and root is exempt from
        # it), so it is a loose second bound above the supervisor's exact watch.
        with contextlib.suppress(psutil.Error):
            uid = os.geteuid()
            mine = sum(
                1
                for p in psutil.process_iter(["uids"])
                if p.info["uids"] is not None and p.info["uids"].real == uid
            )
            limits["RLIMIT_NPROC"] = mine + 4 * max_processes
    return limits


def _child_env(probe_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONBREAKPOINT"):
        env.pop(var, None)
    if probe_dir is None:
        env.pop("MPCHECK_PROBE_DIR", None)
    else:
        env["MPCHECK_PROBE_DIR"] = os.fspath(probe_dir)
    env["MPCHECK_SANDBOX"] = "1"
    # (Not PYTHONUNBUFFERED: print() then writes text and newline separately and
    # lines of concurrent processes interleave. The child makes its own stdout
    # line-buffered instead; spawned processes flush whole buffers when they exit.)
    env.pop("PYTHONUNBUFFERED", None)
    # No __pycache__ written into a student's folder (passed on to spawn children as -B).
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # A segfault prints the Python stack of the crashing process into stderr.
    env["PYTHONFAULTHANDLER"] = "1"
    return env


class _Call:
    """The state of one supervised call."""

    def __init__(
        self, token: bytes, result_path: str, output_limit: int, max_processes: int, timeout: float
    ) -> None:
        self.token = token
        self.result_path = result_path
        self.output_limit = output_limit
        self.max_processes = max_processes
        self.timeout = timeout
        self.reader = FrameReader(token)
        self.result: dict[str, Any] | None = None
        self.phase = "start"
        self.seen: dict[int, psutil.Process] = {}
        self.mark = secrets.token_hex(16)
        # (event, supervisor clock): when the child reported each phase, for the log.
        self.timeline: list[tuple[str, float]] = []
        self.started = 0.0
        self.flooded = 0
        self.cgroup: PidsCgroup | None = None

    def run(self, config_path: str, work_dir: str, env: dict[str, str]) -> CallOutcome:
        result_r, result_w = os.pipe()
        start = self.started = _clock()
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-S",
                    "-c",
                    BOOTSTRAP,
                    config_path,
                    str(result_w),
                    *_site_paths(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work_dir,
                env=env,
                start_new_session=True,
                pass_fds=(result_w,),
            )
        finally:
            os.close(result_w)
        assert proc.stdout is not None
        assert proc.stderr is not None
        streams = [_Stream(proc.stdout, self.output_limit), _Stream(proc.stderr, self.output_limit)]
        stacks = ""
        timed_out = False
        try:
            _watch_with_reaper(proc.pid)
            with contextlib.suppress(psutil.Error):
                self.seen[proc.pid] = psutil.Process(proc.pid)
            timed_out = self._supervise(proc, streams, result_r, start)
            if timed_out:
                stacks = self._hang_report(proc.pid)
        finally:
            # Whatever happened (even KeyboardInterrupt here), nothing of the call survives.
            self.timeline.append(("cleanup", _clock()))
            killed, helpers = self._kill_everything(proc)
            self.timeline.append(("killed", _clock()))
            self._drain(streams, result_r)
            duration = _clock() - start
            os.close(result_r)
            for stream in streams:
                stream.pipe.close()
        if self.result is None:
            self._read_result_file()
        leftovers = [info for info in killed if info.pid != proc.pid and info.pid not in helpers]
        outcome = self._outcome(proc, timed_out)
        outcome.stdout = streams[0].text()
        outcome.stderr = streams[1].text()
        outcome.truncated = any(s.dropped for s in streams)
        outcome.duration = duration
        outcome.stacks = stacks
        outcome.leftovers = leftovers
        outcome.phase = self.phase
        outcome.pid = proc.pid
        return outcome

    # -- while the child runs ------------------------------------------------------------

    def _supervise(
        self, proc: subprocess.Popen[bytes], streams: list[_Stream], result_r: int, start: float
    ) -> bool:
        """Wait for the result, the child's exit, a flood or the deadline; True on timeout."""
        deadline = start + self.timeout
        os.set_blocking(result_r, False)
        pidfd = _pidfd_open(proc.pid)
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                os.set_blocking(stream.pipe.fileno(), False)
                selector.register(stream.pipe, selectors.EVENT_READ, stream)
            selector.register(result_r, selectors.EVENT_READ, "result")
            if pidfd is not None:
                selector.register(pidfd, selectors.EVENT_READ, "exit")
            tick = _WATCH_INTERVAL if pidfd is not None else 0.02
            next_watch = _clock() + _WATCH_INTERVAL
            try:
                while self.result is None:
                    now = _clock()
                    if now >= deadline:
                        return True
                    for key, _mask in selector.select(min(deadline - now, tick)):
                        if isinstance(key.data, _Stream):
                            key.data.read()
                            if key.data.closed:
                                selector.unregister(key.fileobj)
                        elif key.data == "result":
                            self._read_frames(result_r, selector)
                    if self.result is not None or _exited(proc):
                        break
                    if _clock() >= next_watch:
                        # Every 100 ms at first, then less often: a long call (a
                        # speedup measurement) should not share its CPUs with us.
                        slow = _clock() - start > _WATCH_BACKOFF_AFTER
                        next_watch = _clock() + (_WATCH_SLOW_INTERVAL if slow else _WATCH_INTERVAL)
                        if self._count_processes(proc.pid) > self.max_processes:
                            return False
                        if os.path.exists(self.result_path):
                            self._read_result_file()
            finally:
                if pidfd is not None:
                    os.close(pidfd)
        return False

    def _read_frames(self, fd: int, selector: selectors.BaseSelector | None = None) -> None:
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                if selector is not None:
                    selector.unregister(fd)
                return
            for kind, payload in self.reader.feed(chunk):
                if kind == KIND_PHASE:
                    self.phase = payload.decode("ascii", "replace")
                    self.timeline.append((self.phase, _clock()))
                elif kind == KIND_RESULT and self.result is None:
                    self._accept_result(payload)

    def _read_result_file(self) -> None:
        try:
            with open(self.result_path, "rb") as f:
                data = f.read()
        except OSError:
            return
        if data.startswith(self.token) and self.result is None:
            self._accept_result(data[len(self.token) :])

    def _accept_result(self, payload: bytes) -> None:
        self.timeline.append(("result", _clock()))
        try:
            result = safe_loads(payload)
        except Exception:
            return  # not ours after all (a forged frame cannot carry the token; be safe)
        if isinstance(result, dict) and isinstance(result.get("status"), str):
            self.result = result
            if self.phase in ("start", "import", "call"):
                self.phase = "returned" if result["status"] in ("ok", "raised") else self.phase

    def _count_processes(self, pid: int) -> int:
        """Count (and remember) the child and its descendants; note a flood."""
        if self.cgroup is not None:
            tasks = self.cgroup.tasks()
            if tasks is not None and tasks <= self.max_processes:
                return tasks  # processes <= tasks: no need to read all of /proc
        try:
            procs = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            return 0
        for p in procs:
            self.seen.setdefault(p.pid, p)
        count = len(procs) + 1
        if count > self.max_processes:
            self.flooded = count
        return count

    def _hang_report(self, pid: int) -> str:
        roles: dict[int, str] = {pid: _("sandbox child (runs the call)")}
        helpers = _helper_pids(pid)
        # multiprocessing's helpers (resource tracker, fork server) wait by design:
        # their stacks would only distract from the learner's processes.
        learners = [p for p in _descendants(pid) if p.pid not in helpers]
        for p in learners[: _MAX_STACKS - 1]:
            roles[p.pid] = _role(p)
        try:
            from pytest_mpcheck.stacks import dump_stacks, format_stacks

            return format_stacks(dump_stacks(roles, timeout=_STACKS_TIMEOUT))
        except Exception as exc:  # stacks unavailable: at least name the processes
            unavailable = _("stack unavailable: {reason}").format(reason=exc)
            return "\n".join(f"pid {p} ({role}): {unavailable}" for p, role in roles.items())

    # -- after the call ------------------------------------------------------------------

    def _kill_everything(self, proc: subprocess.Popen[bytes]) -> tuple[list[ProcessInfo], set[int]]:
        """SIGKILL the child's tree, its session and every process seen.

        Returns what was killed and which of those were multiprocessing's helpers.
        The session's process group is stopped first (one atomic ``killpg``), so a
        fork flood cannot outrun the listing; the tree is listed while the child
        (the subreaper of double-forked orphans) is still alive.
        """
        sid = proc.pid
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGSTOP)
        killed: dict[int, tuple[int, ProcessInfo]] = {}
        for _round in range(5):
            procs: dict[int, psutil.Process] = {}
            with contextlib.suppress(psutil.Error):
                procs[proc.pid] = psutil.Process(proc.pid)
            for p in _descendants(proc.pid):
                procs.setdefault(p.pid, p)
            for p in self.seen.values():
                procs.setdefault(p.pid, p)
            for p in _session_members(sid):
                procs.setdefault(p.pid, p)
            for p in _marked_processes(self.mark):
                procs.setdefault(p.pid, p)
            for pid in self.cgroup.members() if self.cgroup is not None else ():
                with contextlib.suppress(psutil.Error):
                    procs.setdefault(pid, psutil.Process(pid))
            alive = [p for p in procs.values() if _alive(p)]
            if not alive:
                break
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.suspend()  # those outside the group: no more forking
            for p in alive:
                if p.pid not in killed:
                    killed[p.pid] = _describe(p)
            with contextlib.suppress(OSError):
                os.killpg(sid, signal.SIGKILL)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            _wait_gone(alive, timeout=2.0)
            if [p.pid for p in alive] == [proc.pid]:
                # Only the child, stopped before the listing (a stopped process cannot
                # fork, and a fork racing the group's SIGSTOP is restarted by the
                # kernel): nothing can have appeared since, no need to look again.
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
        # A helper (resource tracker, fork server) says so in its command line while
        # its parent does not: a fork server's children share its command line.
        lines = {pid: info.cmdline for pid, (_ppid, info) in killed.items()}
        helpers = set()
        for pid, (ppid, info) in killed.items():
            role = _helper_role(info.cmdline)
            if role is not None and _helper_role(lines.get(ppid, "")) != role:
                helpers.add(pid)
        return [info for _ppid, info in killed.values()], helpers

    def _drain(self, streams: list[_Stream], result_r: int) -> None:
        """Read what is left in the pipes, until EOF or a short deadline."""
        deadline = _clock() + _DRAIN_TIMEOUT
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                if not stream.closed:
                    selector.register(stream.pipe, selectors.EVENT_READ, stream)
            with contextlib.suppress(OSError, ValueError, KeyError):
                os.set_blocking(result_r, False)
                selector.register(result_r, selectors.EVENT_READ, "result")
            while selector.get_map() and _clock() < deadline:
                for key, _mask in selector.select(max(0.0, deadline - _clock())):
                    if isinstance(key.data, _Stream):
                        key.data.read()
                        if key.data.closed:
                            selector.unregister(key.fileobj)
                    else:
                        self._read_frames(result_r, selector)

    def _outcome(self, proc: subprocess.Popen[bytes], timed_out: bool) -> CallOutcome:
        result = self.result
        if result is not None:
            return self._from_result(result)
        if timed_out:
            return CallOutcome(
                TIMEOUT,
                reason=_(
                    "the call did not finish within {timeout:g} s and was stopped "
                    "(see where each process was stuck below)"
                ).format(timeout=self.timeout),
            )
        code = proc.returncode
        if self.flooded:
            return CallOutcome(
                CRASHED,
                exitcode=None if code is None or code < 0 else code,
                reason=_(
                    "your code started too many processes ({count} alive at once, "
                    "the limit is {limit}) and was stopped: is there a loop that "
                    "starts processes without end?"
                ).format(count=self.flooded, limit=self.max_processes),
            )
        where = {
            "start": _("before your module was imported"),
            "import": _("while your module was being imported"),
            "call": _("during the call, before it returned"),
        }.get(self.phase, _("after the call returned"))
        if code is not None and code < 0:
            return CallOutcome(
                CRASHED,
                signal=-code,
                reason=_("the process running your code was killed by {signal} {where}").format(
                    signal=signal_name(-code), where=where
                ),
            )
        return CallOutcome(
            CRASHED,
            exitcode=code,
            reason=_(
                "the process running your code exited with code {code} {where}, without "
                "a result (did your code call os._exit() or sys.exit(), or close the "
                "sandbox's file descriptors?)"
            ).format(code=code, where=where),
        )

    def _from_result(self, result: dict[str, Any]) -> CallOutcome:
        status = result["status"]
        call_duration = result.get("call_duration")
        if status == "internal":
            raise SandboxError(
                f"the sandbox could not run the scenario: {result.get('exc_type')}: "
                f"{result.get('exc_message')}\n{result.get('traceback', '')}"
            )
        if status == OK:
            try:
                value = safe_loads(result["value"])
            except UnsafeResultError as exc:
                return CallOutcome(
                    RAISED,
                    exc_type="UnsafeResultError",
                    exc_message=str(exc),
                    reason=_(
                        "the call returned a {what} object, which the tests do not accept "
                        "(only plain values such as lists, dicts, numbers and strings)"
                    ).format(what=str(exc)),
                    call_duration=call_duration,
                )
            except Exception as exc:
                return CallOutcome(
                    RAISED,
                    exc_type=type(exc).__name__,
                    exc_message=str(exc),
                    reason=_("the call's return value could not be read back: {error}").format(
                        error=exc
                    ),
                    call_duration=call_duration,
                )
            return CallOutcome(OK, value=value, call_duration=call_duration)
        if status == "unpicklable":
            return CallOutcome(
                RAISED,
                exc_type=str(result.get("exc_type")),
                exc_message=str(result.get("exc_message")),
                reason=_(
                    "the call returned a {what} object, which cannot be sent back to the "
                    "tests ({error})"
                ).format(what=result.get("value_type"), error=result.get("exc_message")),
                call_duration=call_duration,
            )
        exc_type = str(result.get("exc_type"))
        exc_message = str(result.get("exc_message"))
        location = result.get("location")
        if status == NOT_IMPLEMENTED:
            reason = _("not written yet ({location}): write this function first").format(
                location=location or exc_type
            )
        elif status == IMPORT_ERROR:
            reason = _("your module could not be imported: {error}").format(
                error=f"{exc_type}: {exc_message}"
            )
        else:
            status = RAISED
            reason = _("your code raised {error}").format(error=f"{exc_type}: {exc_message}")
        return CallOutcome(
            status,
            exc_type=exc_type,
            exc_message=exc_message,
            traceback=str(result.get("traceback") or ""),
            location=location if isinstance(location, str) else None,
            reason=reason,
            call_duration=call_duration,
        )


def _log(outcome: CallOutcome, module: str, scenario: str, start_method: str, call: _Call) -> None:
    """Append a line about this call to ``$MPCHECK_SANDBOX_LOG`` (for measuring the kit)."""
    path = os.environ.get(LOG_VAR)
    if not path:
        return
    fields = [
        module,
        scenario,
        start_method,
        outcome.status,
        f"{outcome.duration:.3f}",
        "" if outcome.call_duration is None else f"{outcome.call_duration:.3f}",
        " ".join(f"{event}={at - call.started:.3f}" for event, at in call.timeline),
    ]
    with contextlib.suppress(OSError), open(path, "a") as f:
        f.write("\t".join(fields) + "\n")


@functools.cache
def _site_paths() -> tuple[str, ...]:
    """The ``sys.path`` entries a fresh interpreter gets from ``site`` (asked once).

    Plus the directory holding ``pytest_mpcheck`` when only an import hook finds
    it (an editable install), appended last so that it shadows nothing.
    """
    probe = "import sys, json; print(json.dumps(sys.path))"
    # Without PYTHONPATH: the child's interpreter adds its own from its environment,
    # which may differ from this first call's.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            cwd=tempfile.gettempdir(),
            env=env,
            timeout=60,
            check=True,
        ).stdout
        paths = [p for p in json.loads(out) if isinstance(p, str) and p]
    except (OSError, subprocess.SubprocessError, ValueError):
        paths = [p for p in sys.path if p and "site-packages" in p]
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not any(os.path.isfile(os.path.join(p, "pytest_mpcheck", "__init__.py")) for p in paths):
        paths.append(os.path.dirname(package_dir))
    return tuple(paths)


def _watch_with_reaper(pid: int) -> None:
    """Have the reaper end the call's processes if pytest itself is killed."""
    try:
        from pytest_mpcheck import reaper
    except ImportError:  # not there yet
        return
    watch = getattr(reaper, "watch", None)
    if watch is not None:
        watch(pid)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it.

    Until it is reaped its pid stays taken, so the ``killpg`` of its process group
    that follows can never hit an unrelated group that reused the number.
    """
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return proc.poll() is not None
    try:
        return waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True  # already reaped


def _pidfd_open(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux), else None."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd: int = pidfd_open(pid)
    except OSError:
        return None
    return fd


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _helper_role(cmdline: str) -> str | None:
    for mark, role in _HELPER_MARKS.items():
        if mark in cmdline:
            return role
    return None


def _session_members(sid: int) -> list[psutil.Process]:
    members = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError, psutil.Error):
            if pid != os.getpid() and os.getsid(pid) == sid:
                members.append(psutil.Process(pid))
    return members


def _marked_processes(mark: str) -> list[psutil.Process]:
    """The processes whose environment carries this call's mark (Linux: /proc)."""
    if not os.path.isdir("/proc/self"):
        return []
    needle = f"{CALL_MARK_VAR}={mark}\0".encode()
    me = os.getpid()
    found = []
    for pid in psutil.pids():
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    found.append(psutil.Process(pid))
        except (OSError, psutil.Error):
            continue
    return found


def _describe(proc: psutil.Process) -> tuple[int, ProcessInfo]:
    """``(ppid, ProcessInfo)`` of ``proc``, tolerating a process that is gone."""
    try:
        with proc.oneshot():
            ppid = proc.ppid()
            name = proc.name()
            cmdline = " ".join(proc.cmdline()) or name
    except psutil.Error:
        return 0, ProcessInfo(proc.pid, "?", "?")
    return ppid, ProcessInfo(proc.pid, name, cmdline)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until every process of ``procs`` is dead (or a zombie), at most ``timeout``."""
    deadline = _clock() + timeout
    pending = list(procs)
    while pending and _clock() < deadline:
        pending = [p for p in pending if _alive(p)]
        if pending:
            time.sleep(0.01)


def _helper_pids(pid: int) -> set[int]:
    """Multiprocessing's own helpers among ``pid``'s descendants (tracker, fork server).

    A process forked by the fork server shares its command line, so a helper is
    one whose command line says so while its parent's does not.
    """
    lines: dict[int, tuple[int, str]] = {}
    for proc in _descendants(pid):
        with contextlib.suppress(psutil.Error):
            lines[proc.pid] = (proc.ppid(), " ".join(proc.cmdline()))
    helpers = set()
    for child, (parent, line) in lines.items():
        role = _helper_role(line)
        if role is not None and _helper_role(lines.get(parent, (0, ""))[1]) != role:
            helpers.add(child)
    return helpers


def _role(proc: psutil.Process) -> str:
    try:
        parent = proc.ppid()
    except psutil.Error:
        parent = 0
    return _("process started by your code (parent pid {parent})").format(parent=parent)
