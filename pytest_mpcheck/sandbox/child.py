"""The sandbox child: runs one scenario call on a learner's module, then reports it.

The supervisor starts it as ``python -S -c BOOTSTRAP CONFIG RESULT_FD PATH...`` in a new
session, with a fresh temporary directory as its working directory. ``-c`` (not
``-m``) on purpose: ``__main__`` then has neither a spec nor a file, so processes
that the learner's code starts under ``spawn`` or ``forkserver`` do not re-import
this module as their ``__mp_main__``; they only need ``sys.path``, which
multiprocessing hands them in its preparation data (``impl_dir`` first).

Keep this module's imports light (no pytest, no psutil): its start-up is paid on
every call the kit makes. The order of ``main`` matters:

1. read the configuration (and delete its file) and the channel token,
   before any learner code can look for them;
2. resource limits, subreaper, start method (``set_start_method(force=True)``:
   this process is ours, so the learner's default-context code runs under the
   method being tested);
3. import the scenario module (with a clean ``sys.path``, so a learner's folder
   cannot shadow the kit's modules), then put ``impl_dir`` first on ``sys.path``
   and import the learner's module from its file;
4. call the scenario, and send the outcome as builtins only;
5. linger until the supervisor, having listed this process's descendants (which
   includes double-forked orphans, since this process is their subreaper), kills
   the whole tree.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import pickle
import signal
import sys
import time

from pytest_mpcheck.sandbox.protocol import KIND_PHASE, KIND_RESULT, encode_frame

# Not ``from typing import TYPE_CHECKING``: typing (and traceback, imported where an
# exception is formatted) cost a noticeable share of this process's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

# Captured when this module is imported, before any learner code: a learner who
# patches time.perf_counter, time.sleep or pickle.dumps cannot reach these.
_perf_counter = time.perf_counter
_monotonic = time.monotonic
_sleep = time.sleep
_dumps = pickle.dumps
_os_write = os.write
_os_exit = os._exit

# Run with ``python -S``: the site module (here an editable install's import hook,
# pathlib, re...) costs 20-100 ms per interpreter, paid again by every process the
# learner's code spawns (they inherit -S). The supervisor passes the directories
# ``site`` would have added; they follow the config path and the fd in argv.
BOOTSTRAP = (
    "import sys; sys.path.extend(p for p in sys.argv[3:] if p not in sys.path); "
    "from pytest_mpcheck.sandbox.child import main; main()"
)
_OWN_FILES = {os.path.abspath(__file__)}
# How long the child waits, after sending its result, for the supervisor to kill it.
_LINGER = 30.0
_PR_SET_CHILD_SUBREAPER = 36


class _Channel:
    """The result channel: frames on the pipe, plus the final result in a file.

    The file (at a random path outside the learner's working directory, starting
    with the secret token, written atomically) is the fallback for a learner who
    closed every descriptor: the supervisor looks for it when no frame arrived.
    """

    def __init__(self, fd: int, token: bytes, result_path: str) -> None:
        self.fd = fd
        self.token = token
        self.result_path = result_path

    def send(self, kind: bytes, payload: bytes) -> None:
        data = memoryview(encode_frame(self.token, kind, payload))
        try:
            while data:
                written = _os_write(self.fd, data)
                data = data[written:]
        except OSError:
            pass  # a closed or replaced descriptor: the result file still tells

    def phase(self, name: str) -> None:
        self.send(KIND_PHASE, name.encode("ascii"))

    def result(self, outcome: dict[str, Any]) -> None:
        payload = _dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            tmp = self.result_path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(self.token + payload)
            os.replace(tmp, self.result_path)
        except OSError:
            pass  # the pipe still tells
        self.send(KIND_RESULT, payload)


def main() -> None:
    """Entry point of the child (see the module docstring for the order of steps)."""
    me = os.getpid()
    config_path, result_fd = sys.argv[1], int(sys.argv[2])
    with open(config_path, "rb") as f:
        config: dict[str, Any] = pickle.load(f)
    os.unlink(config_path)
    if config.get("cgroup_procs"):
        # Join the call's pids cgroup (a hard cap on processes) before anything else.
        with contextlib.suppress(OSError), open(config["cgroup_procs"], "w") as f:
            f.write("0")
    # Not inherited by anything the learner's code execs (spawn, forkserver).
    os.set_inheritable(result_fd, False)
    channel = _Channel(result_fd, config["token"], config["result_path"])
    # Line-buffered like on a terminal: what the learner printed before a crash
    # reaches the report, and fork children do not inherit half-written buffers.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        outcome = _run(config, channel)
    except BaseException as exc:  # our own bug, or a scenario that is not importable
        outcome = {
            "status": "internal",
            "exc_type": _type_name(type(exc)),
            "exc_message": _safe_str(exc),
            "traceback": _safe_format(exc),
        }
    if os.getpid() != me:
        # A copy made by the learner's own os.fork() that returned from their
        # function instead of exiting: it must not report (nor linger).
        with contextlib.suppress(Exception):
            from pytest_mpcheck.i18n import _

            sys.stderr.write(
                _(
                    "process {pid}, forked by your code, returned from the function "
                    "instead of ending: end a forked child with os._exit()"
                ).format(pid=os.getpid())
                + "\n"
            )
            sys.stderr.flush()
        _os_exit(1)
    channel.result(outcome)
    _flush_std_streams()
    deadline = _monotonic() + _LINGER
    while _monotonic() < deadline:
        _sleep(0.5)
    _os_exit(0)


def _run(config: dict[str, Any], channel: _Channel) -> dict[str, Any]:
    _restore_site_builtins()
    _apply_limits(config["limits"])
    if config.get("subreaper"):
        _become_subreaper()
    import multiprocessing

    multiprocessing.set_start_method(config["start_method"], force=True)

    module_name, _, function_name = config["scenario"].partition(":")
    scenario: Callable[..., Any] = getattr(importlib.import_module(module_name), function_name)

    impl_dir: str = config["impl_dir"]
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", cwd, impl_dir)]
    sys.path.insert(0, impl_dir)

    channel.phase("import")
    try:
        module = _import_learner_module(impl_dir, config["module"])
    except BaseException as exc:
        return _exception_outcome("import_error", exc, impl_dir)
    changed = _start_method_changed(multiprocessing, config["start_method"], "import_error")
    if changed is not None:
        return changed

    channel.phase("call")
    start = _perf_counter()
    try:
        value = scenario(module, *config["args"], **config["kwargs"])
    except BaseException as exc:
        outcome = _exception_outcome("raised", exc, impl_dir)
        outcome["call_duration"] = _perf_counter() - start
        return outcome
    call_duration = _perf_counter() - start
    changed = _start_method_changed(multiprocessing, config["start_method"], "raised")
    if changed is not None:
        return changed
    try:
        pickled = _dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        return {
            "status": "unpicklable",
            "exc_type": "UnpicklableResultError",
            "exc_message": f"{_type_name(type(exc))}: {_safe_str(exc)}",
            "value_type": _type_name(type(value)),
            "traceback": "",
            "call_duration": call_duration,
        }
    return {"status": "ok", "value": pickled, "call_duration": call_duration}


def _start_method_changed(mp: ModuleType, expected: str, status: str) -> dict[str, Any] | None:
    """An outcome when the learner's code forced another start method, else None.

    A module that calls ``set_start_method("fork", force=True)`` would otherwise
    pass every spawn test without being checked under spawn at all.
    """
    try:
        actual = mp.get_start_method(allow_none=True)
    except Exception:
        actual = None
    if actual == expected:
        return None
    from pytest_mpcheck.i18n import _  # only here: gettext is not free at start-up

    return {
        "status": status,
        "exc_type": "StartMethodChangedError",
        "exc_message": _(
            "your code changed the start method to {actual!r} "
            "(multiprocessing.set_start_method); it is being checked under {expected!r}: "
            "do not call set_start_method in these functions or at import"
        ).format(actual=actual, expected=expected),
    }


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles the learner's file from source, never from a ``__pycache__`` left behind.

    A stale ``.pyc`` (same size, same second) would otherwise run yesterday's code.
    """

    def get_code(self, fullname: str) -> Any:
        return self.source_to_code(self.get_data(self.path), self.path)


class _LearnerImportError(ImportError):
    """The learner's module or folder is missing or unusable (said in one sentence)."""


def _folder_problem(impl_dir: str, name: str) -> str | None:
    """Why ``impl_dir/name.py`` cannot be imported as the learner's module, or None."""
    path = os.path.join(impl_dir, name + ".py")
    shadows = [
        os.path.join(impl_dir, shadow)
        for shadow in ("pytest_mpcheck", "pytest_mpcheck.py")
        if os.path.exists(os.path.join(impl_dir, shadow))
    ]
    if os.path.isfile(path) and not shadows:
        return None
    from pytest_mpcheck.i18n import _  # only here: gettext is not free at start-up

    if not os.path.isdir(impl_dir):
        return _("the folder {folder} does not exist").format(folder=impl_dir)
    if shadows:
        return _("{path} would hide the checker's own package: remove it from your folder").format(
            path=shadows[0]
        )
    return _("there is no file {module}.py in {folder}").format(module=name, folder=impl_dir)


def _import_learner_module(impl_dir: str, name: str) -> ModuleType:
    problem = _folder_problem(impl_dir, name)
    if problem is not None:
        raise _LearnerImportError(problem)
    path = os.path.join(impl_dir, name + ".py")
    loader = _SourceLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _exception_outcome(status: str, exc: BaseException, impl_dir: str) -> dict[str, Any]:
    full = _safe_format(exc)
    if status == "raised" and isinstance(exc, NotImplementedError) and impl_dir + os.sep in full:
        status = "not_implemented"
    if isinstance(exc, _LearnerImportError):
        # Our own one-sentence explanation: no traceback through this module.
        return {"status": status, "exc_type": "ImportError", "exc_message": str(exc)}
    return {
        "status": status,
        "exc_type": _type_name(type(exc)),
        "exc_message": _safe_str(exc),
        "traceback": _trimmed_traceback(exc, impl_dir) or full,
        "location": _location(exc, impl_dir),
    }


def _in_dir(filename: str, directory: str) -> bool:
    return filename.startswith(directory + os.sep)


def _trimmed_traceback(exc: BaseException, impl_dir: str) -> str:
    """The traceback with only the learner's frames (and the one that raised).

    Without any learner frame, drop only this module's and importlib's frames.
    """
    import traceback

    try:
        te = traceback.TracebackException.from_exception(exc)
        seen: set[int] = set()

        def prune(t: traceback.TracebackException | None) -> None:
            if t is None or id(t) in seen:
                return
            seen.add(id(t))
            frames = list(t.stack)
            mine = [f for f in frames if _in_dir(f.filename, impl_dir)]
            if mine:
                kept = mine + ([frames[-1]] if frames[-1] is not mine[-1] else [])
            else:
                kept = [
                    f
                    for f in frames
                    if f.filename not in _OWN_FILES and not f.filename.startswith("<frozen")
                ]
            t.stack = traceback.StackSummary.from_list(kept)
            prune(t.__cause__)
            prune(t.__context__)
            for sub in getattr(t, "exceptions", None) or ():
                prune(sub)

        prune(te)
        return "".join(te.format())
    except Exception:
        return ""


def _location(exc: BaseException, impl_dir: str) -> str | None:
    """``"ex1_process.py, line 12, in start_workers"``: the innermost learner frame."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{os.path.basename(exc.filename)}, line {exc.lineno}"
    import traceback

    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except Exception:
        return None
    for frame in reversed(frames):
        if _in_dir(frame.filename, impl_dir):
            return f"{os.path.basename(frame.filename)}, line {frame.lineno}, in {frame.name}"
    return None


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:
        return f"<{type(exc).__name__} whose message cannot be shown>"


def _safe_format(exc: BaseException) -> str:
    import traceback

    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:
        return f"{_type_name(type(exc))}: {_safe_str(exc)}\n"


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in (None, "builtins") else f"{module}.{name}"


def _apply_limits(limits: dict[str, int | None]) -> None:
    """Lower this process's resource limits (inherited by everything it starts)."""
    try:
        import resource
    except ImportError:  # not a Unix
        return
    # A file grown past RLIMIT_FSIZE then fails with EFBIG (an OSError the learner
    # sees) instead of SIGXFSZ silently killing the writer.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None or value is None:
            continue
        try:
            _soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one.
            new_hard = value
            if name == "RLIMIT_CPU" and hard == resource.RLIM_INFINITY:
                new_hard = value + 5
            resource.setrlimit(which, (value, new_hard))
        except (ValueError, OSError):
            pass


def _become_subreaper() -> None:
    """Orphans of our descendants (a double fork) become our children, not init's.

    So they stay in our process tree, where the supervisor finds and kills them.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:
        pass


def _restore_site_builtins() -> None:
    """``exit()`` and ``quit()`` as ``site`` defines them (this process runs with -S)."""
    import builtins

    with contextlib.suppress(Exception):
        import _sitebuiltins

        for name, eof in (("exit", "Ctrl-D (i.e. EOF)"), ("quit", "Ctrl-D (i.e. EOF)")):
            if not hasattr(builtins, name):
                setattr(builtins, name, _sitebuiltins.Quitter(name, eof))


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            pass
