"""Scenarios: what the kit's tests run on a learner's module, inside the sandbox's child.

Each scenario is a top-level function ``scenario(module, *args)`` that
:func:`pytest_mpcheck.sandbox.run_call` calls in a fresh supervised child
process with the learner's module. It calls the learner's functions (with
probes from :mod:`pytest_mpcheck.kit.probes` where a probe can stand in for the
work) and returns plain evidence: builtins only (pids, exit codes, records,
counts). The verdict and the learner-facing diagnosis are made in the pytest
process, in :mod:`pytest_mpcheck.kit.checks`, from that evidence.

Keep the imports light: this module is imported in every sandboxed call, and
again by every process a learner starts under ``spawn`` (through the probes'
module only, which imports nothing of this one).
"""

from __future__ import annotations

import contextlib
import io
import os
import queue as queue_module
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from pytest_mpcheck.kit import probes

# Captured before the learner's module is imported (the sandbox imports the
# scenario module first), so patched clocks cannot stretch our deadlines.
_monotonic = time.monotonic
_sleep = time.sleep
_getpid = os.getpid

#: How many items of a result are sent back whole; beyond, a summary only.
_MAX_ITEMS_BACK = 500


# -- helpers -----------------------------------------------------------------------


def _role(proc: Any) -> str:
    """Name what a process runs: its target's name, ``pool worker``, ``manager``."""
    target = getattr(proc, "_target", None)
    if target is None:
        cls = type(proc).__name__
        return (
            cls
            if cls not in ("Process", "SpawnProcess", "ForkProcess", "ForkServerProcess")
            else "process"
        )
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", None) or type(target).__name__
    if module == "multiprocessing.pool" or (name == "worker" and "pool" in module):
        return "pool worker"
    if module.startswith("multiprocessing.managers") or name == "_run_server":
        return "manager"
    if module.startswith("concurrent.futures"):
        return "pool worker"
    return str(name)


class _Tracker:
    """Records every ``multiprocessing`` process started in this process while active.

    It wraps ``BaseProcess.start`` (every context's ``Process``, pools' workers
    and managers' servers go through it), so the kit sees exit codes of
    processes the learner's code created and never returned.
    """

    def __init__(self) -> None:
        self.procs: list[tuple[Any, str]] = []
        self._original: Callable[..., Any] | None = None

    def __enter__(self) -> _Tracker:
        import multiprocessing.process as mpp

        original = mpp.BaseProcess.start
        procs = self.procs

        def start(proc: Any, *args: Any, **kwargs: Any) -> Any:
            # Name the role now: start() deletes the process's _target (bpo-30775).
            procs.append((proc, _role(proc)))
            return original(proc, *args, **kwargs)

        self._original = original
        mpp.BaseProcess.start = start  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        import multiprocessing.process as mpp

        if self._original is not None:
            mpp.BaseProcess.start = self._original  # type: ignore[method-assign]

    def report(self) -> list[dict[str, Any]]:
        out = []
        for proc, role in self.procs:
            try:
                alive = bool(proc.is_alive())
            except Exception:  # a process object the learner broke
                alive = False
            out.append(
                {
                    "role": role,
                    "pid": proc.pid,
                    "alive": alive,
                    "exitcode": None if alive else proc.exitcode,
                    "name": str(getattr(proc, "name", "")),
                }
            )
        return out

    def kill_alive(self) -> None:
        for proc, _role_name in self.procs:
            with contextlib.suppress(Exception):
                if proc.is_alive():
                    proc.kill()
                    proc.join(2.0)


def _describe_processes(value: Any) -> dict[str, Any]:
    """Describe what ``start_workers`` returned, without trusting its type."""
    import multiprocessing.process as mpp

    if not isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "items": None}
    items: list[dict[str, Any]] = []
    for proc in value:
        if isinstance(proc, mpp.BaseProcess):
            try:
                alive = proc.is_alive()
            except Exception:
                alive = False
            items.append(
                {
                    "process": True,
                    "pid": proc.pid,
                    "alive": alive,
                    "exitcode": None if alive else proc.exitcode,
                    "name": str(getattr(proc, "name", "")),
                }
            )
        else:
            items.append({"process": False, "type": type(proc).__name__})
    return {"type": type(value).__name__, "items": items}


def _plain(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as builtins (``repr`` for anything else), so it can be sent back."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if depth > 4:
        return repr(value)
    if type(value) in (list, tuple):
        return type(value)(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    return {"__repr__": repr(value)[:200], "__type__": type(value).__name__}


def _exception(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc)[:2000],
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-6000:],
    }


@contextlib.contextmanager
def _stdout_to(buffer: io.StringIO) -> Iterator[None]:
    saved = sys.stdout
    sys.stdout = buffer
    try:
        yield
    finally:
        sys.stdout = saved


def _thread_stack(thread: threading.Thread, module: ModuleType) -> list[dict[str, Any]]:
    """Where ``thread`` is now: its frames, outermost first, each marked learner or not."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return []
    learner_file = os.path.realpath(getattr(module, "__file__", "") or "")
    frames = []
    for entry in traceback.extract_stack(frame):
        frames.append(
            {
                "file": os.path.basename(entry.filename),
                "line": entry.lineno,
                "function": entry.name,
                "code": (entry.line or "").strip(),
                "learner": os.path.realpath(entry.filename) == learner_file,
            }
        )
    return frames


#: A call still running after PROBE_AFTER seconds is looked at every PROBE_EVERY
#: seconds; two identical looks at a certain deadlock end the wait early (as the
#: plugin's sentinel check does), so a deadlock is diagnosed in seconds, not at the deadline.
PROBE_AFTER = 1.5
PROBE_EVERY = 1.0


def _run_bounded(
    func: Callable[[], Any],
    deadline: float,
    stuck: Callable[[threading.Thread], Any] | None = None,
) -> tuple[bool, Any, BaseException | None, threading.Thread]:
    """Run ``func`` in a daemon thread for at most ``deadline`` seconds.

    With ``stuck`` (a thread -> signature function returning ``None`` while the call
    may still progress), stop waiting as soon as two looks ``PROBE_EVERY`` apart give
    the same signature: a certain deadlock does not end by waiting.
    """
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # reported to the caller, whatever it is
            box["error"] = exc

    thread = threading.Thread(target=body, name="learner-call", daemon=True)
    thread.start()
    if stuck is None:
        thread.join(deadline)
    else:
        end = _monotonic() + deadline
        thread.join(min(deadline, PROBE_AFTER))
        previous: Any = None
        while thread.is_alive() and _monotonic() < end:
            try:
                signature = stuck(thread)
            except Exception:  # a look that fails proves nothing: wait on
                signature = None
            if signature is not None and signature == previous:
                break
            previous = signature
            thread.join(max(0.0, min(PROBE_EVERY, end - _monotonic())))
    finished = not thread.is_alive()
    return finished, box.get("value"), box.get("error"), thread


_WAIT_CALLS = frozenset(
    {"Queue.get", "JoinableQueue.get", "SimpleQueue.get", "get", "BaseProcess.join", "join"}
)


def _pipeline_signature(
    tracker: _Tracker, thread: threading.Thread, module: ModuleType
) -> tuple[Any, ...] | None:
    """A summary of a certain deadlock of ``run_pipeline``, or ``None`` if it may progress.

    Certain: the caller waits inside a library call (not in its own code, which
    might be a polling loop), and every process it started that is still alive is
    idle, waiting in ``get()``/``join()`` or stuck flushing a queue at exit.
    """
    caller = _thread_stack(thread, module)
    if not caller or caller[-1]["learner"] or not any(f["learner"] for f in caller):
        return None
    procs = tracker.report()
    alive = {p["pid"]: p["role"] for p in procs if p["alive"] and p["pid"]}
    looks: list[tuple[Any, ...]] = []
    if alive:
        from pytest_mpcheck.stacks import dump_stacks

        for st in dump_stacks(alive, timeout=4.0):
            if st.exited:
                return None
            if not st.available:
                return None  # without stacks, only the deadline can tell
            if any(not t.idle for t in st.threads):
                return None
            if not st.flushing_queue and st.blocked_in not in _WAIT_CALLS:
                return None
            looks.append((st.pid, st.blocked_in or "", st.flushing_queue))
    frames = tuple((f["file"], f["line"], f["function"]) for f in caller)
    return (frames, tuple(sorted(looks)), tuple(sorted(alive)), _cpu_used(alive, thread))


def _cpu_used(pids: Any, thread: threading.Thread) -> tuple[Any, ...]:
    """CPU time used so far by each process and by the caller's thread: the progress check.

    The stacks' summary can be the same at two looks while items flowed in between
    (a consumer back in ``get()``); a process that did anything used CPU time, a
    deadlocked one uses none. ``None`` entries (unreadable) never match by chance,
    since two looks then differ only if something changed.
    """
    import psutil

    used: list[Any] = []
    for pid in sorted(pids):
        try:
            times = psutil.Process(pid).cpu_times()
            used.append((pid, times.user, times.system))
        except psutil.Error:
            used.append((pid, None))
    native = getattr(thread, "native_id", None)
    try:
        own = {t.id: (t.user_time, t.system_time) for t in psutil.Process().threads()}
        used.append(("caller", own.get(native or -1)))
    except psutil.Error:
        used.append(("caller", None))
    return tuple(used)


def _uses_empty(module: ModuleType) -> bool:
    """Whether the learner's consumer calls ``empty()`` (an unreliable end-of-stream test)."""
    import inspect

    try:
        source = inspect.getsource(module.consumer)
    except Exception:
        return False
    return ".empty()" in source


def _hang_evidence(
    tracker: _Tracker, thread: threading.Thread, module: ModuleType
) -> dict[str, Any]:
    """Collect where a stuck call is: the caller's stack, each process's stack; then end them."""
    caller = _thread_stack(thread, module)
    evidence: dict[str, Any] = {"caller": caller}
    # The library call the caller is blocked in (``join``, ``get``...): the first
    # frame below its own code.
    last_learner = max((i for i, f in enumerate(caller) if f["learner"]), default=-1)
    below = caller[last_learner + 1 :] if last_learner >= 0 else []
    evidence["caller_call"] = below[0]["function"] if below else None
    procs = tracker.report()
    alive = {p["pid"]: p["role"] for p in procs if p["alive"] and p["pid"]}
    stacks: dict[int, dict[str, Any]] = {}
    text = ""
    if alive:
        try:
            from pytest_mpcheck.stacks import dump_stacks, format_stacks

            dumped = dump_stacks(alive, timeout=8.0)
            text = format_stacks(dumped)
            for st in dumped:
                stacks[st.pid] = {
                    "available": st.available,
                    "flushing": st.flushing_queue,
                    "blocked_in": st.blocked_in,
                    "busy": st.busy,
                }
        except Exception as exc:  # py-spy missing or not permitted: say so, go on
            text = f"(stacks unavailable: {exc})"
    for p in procs:
        p["stack"] = stacks.get(p["pid"])
    evidence["processes"] = procs
    evidence["stacks"] = text
    tracker.kill_alive()
    thread.join(2.0)
    return evidence


# -- ex1_process -------------------------------------------------------------------


def ex1_worker(module: ModuleType, num: int) -> dict[str, Any]:
    """Call ``worker(num)`` here and return what it printed and this process's pid."""
    buffer = io.StringIO()
    with _stdout_to(buffer):
        module.worker(num)
    return {"output": buffer.getvalue(), "pid": _getpid()}


def ex1_start_workers(
    module: ModuleType, n: int, probe: bool, wait: float = probes.WAIT_S
) -> dict[str, Any]:
    """Run ``start_workers(n)`` (with the overlap probe as target when ``probe``)."""
    if probe:
        probes.write_config(n=n, wait=wait)
    sys.stdout.flush()
    with _Tracker() as tracker:
        if probe:
            value = module.start_workers(n, target=probes.ex1_target)
        else:
            value = module.start_workers(n)
    sys.stdout.flush()
    return {
        "me": _getpid(),
        "returned": _describe_processes(value),
        "probe": probes.read_records() if probe else None,
        "tracked": tracker.report(),
    }


# -- ex2_pool ----------------------------------------------------------------------


def ex2_fib(module: ModuleType, values: list[int]) -> list[Any]:
    """Return ``[fib(v) for v in values]`` computed here."""
    return [_plain(module.fib(v)) for v in values]


def ex2_parallel_map(
    module: ModuleType, values: list[int], processes: int, wait: float = probes.WAIT_S
) -> dict[str, Any]:
    """Run ``parallel_map(probe, values, processes)``; return results and the probes' records."""
    probes.write_config(wait=wait)
    with _Tracker() as tracker:
        results = module.parallel_map(probes.ex2_task, values, processes)
    return {
        "me": _getpid(),
        "results": _plain(results),
        "probe": probes.read_records(),
        "tracked": tracker.report(),
    }


def ex2_exception(module: ModuleType, values: list[int], processes: int) -> dict[str, Any]:
    """Run ``parallel_map`` with a func that raises; return what reached the caller."""
    with _Tracker() as tracker:
        try:
            results = module.parallel_map(probes.ex2_fail, values, processes)
        except Exception as exc:
            raised: dict[str, Any] | None = _exception(exc)
            results = None
        else:
            raised = None
    return {"raised": raised, "results": _plain(results), "tracked": tracker.report()}


def ex2_parallel_fib(module: ModuleType, values: list[int], processes: int) -> dict[str, Any]:
    """Run ``parallel_fib(values, processes)``; return the results and the processes seen."""
    with _Tracker() as tracker:
        results = module.parallel_fib(values, processes)
    return {"me": _getpid(), "results": _plain(results), "tracked": tracker.report()}


# -- ex3_queue ---------------------------------------------------------------------


def _drain(q: Any, timeout: float, limit: int = 100_000) -> list[Any]:
    taken: list[Any] = []
    while len(taken) < limit:
        try:
            taken.append(q.get(timeout=timeout))
        except queue_module.Empty:
            break
    return taken


def ex3_producer(module: ModuleType, items: list[Any], counts: list[int]) -> dict[str, Any]:
    """Run ``producer(q, items, k)`` here for each k in ``counts``; return what each put."""
    import multiprocessing

    runs = []
    for n_sentinels in counts:
        q: Any = multiprocessing.Queue()
        module.producer(q, list(items), n_sentinels)
        expected = len(items) + n_sentinels
        # Everything is in the pipe by now (same process): a short wait finds any extra.
        put = _drain(q, 0.5, limit=expected)
        put += _drain(q, 0.1, limit=100)
        runs.append({"n_sentinels": n_sentinels, "put": _plain(put)})
    return {"runs": runs, "sentinel": repr(getattr(module, "SENTINEL", "<missing>"))}


def ex3_consumer(module: ModuleType, items: list[Any], after: list[Any]) -> dict[str, Any]:
    """Run ``consumer(q, out_q)`` on items, a sentinel and more items after it."""
    import multiprocessing

    q: Any = multiprocessing.Queue()
    out_q: Any = multiprocessing.Queue()
    for item in [*items, None, *after]:
        q.put(item)
    finished, _value, error, _thread = _run_bounded(lambda: module.consumer(q, out_q), 5.0)
    forwarded = _drain(out_q, 0.1)
    left = _drain(q, 0.1)
    return {
        "returned": finished,
        "error": _exception(error) if error is not None else None,
        "forwarded": _plain(forwarded),
        "left": _plain(left),
    }


def _items(kind: str, count: int) -> list[Any]:
    if kind == "kib":  # distinct 1 KiB byte strings
        return [b"%07d" % i + b"." * 1017 for i in range(count)]
    return list(range(count))


def ex3_pipeline(
    module: ModuleType, kind: str, count: int, n_consumers: int, deadline: float
) -> dict[str, Any]:
    """Run ``run_pipeline`` on ``count`` items with a deadline; summarise what came back.

    When it does not return in time, the evidence says where the caller and
    every process it started were stuck, and those processes are ended.
    """
    items = _items(kind, count)
    with _Tracker() as tracker:
        started = _monotonic()
        finished, value, error, thread = _run_bounded(
            lambda: module.run_pipeline(list(items), n_consumers),
            deadline,
            stuck=lambda t: _pipeline_signature(tracker, t, module),
        )
        if not finished:
            return {
                "finished": False,
                "elapsed": _monotonic() - started,
                "consumer_uses_empty": _uses_empty(module),
                **_hang_evidence(tracker, thread, module),
            }
    if error is not None:
        raise error
    evidence: dict[str, Any] = {"finished": True, "tracked": tracker.report()}
    if not isinstance(value, (list, tuple)):
        evidence["type"] = type(value).__name__
        return evidence
    got = list(value)
    expected = set(items)
    counts: dict[Any, int] = {}
    unexpected = 0
    for item in got:
        try:
            if item in expected:
                counts[item] = counts.get(item, 0) + 1
            else:
                unexpected += 1
        except TypeError:  # unhashable: certainly not one of ours
            unexpected += 1
    missing = [item for item in items if item not in counts]
    evidence.update(
        {
            "type": "list",
            "count": len(got),
            "expected": len(items),
            "in_order": got == items,
            "missing": len(missing),
            "first_missing": _plain(missing[:3]) if kind == "ints" else len(missing),
            "duplicates": sum(c - 1 for c in counts.values()),
            "unexpected": unexpected,
            "sample": _plain(got[:10]) if kind == "ints" else None,
            "none_items": sum(1 for item in got if item is None),
        }
    )
    return evidence


# -- ex4_manager -------------------------------------------------------------------


def ex4_worker(module: ModuleType) -> dict[str, Any]:
    """Call ``worker(d, l, "k", 42)`` here on a plain dict and list."""
    d: dict[Any, Any] = {}
    l: list[Any] = []  # noqa: E741
    module.worker(d, l, "k", 42)
    return {"d": _plain(d), "l": _plain(l)}


def _copy_out(obj: Any, kind: type) -> tuple[Any, dict[str, Any] | None]:
    try:
        return _plain(kind(obj)), None
    except Exception as exc:  # a dead proxy raises here
        return None, _exception(exc)


def ex4_collect(module: ModuleType, n: int) -> dict[str, Any]:
    """Run ``collect(n)``; describe the returned objects and the processes left."""
    with _Tracker() as tracker:
        value = module.collect(n)
    evidence: dict[str, Any] = {"type": type(value).__name__, "tracked": tracker.report()}
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return evidence
    d, l = value  # noqa: E741
    evidence["d_type"] = f"{type(d).__module__}.{type(d).__qualname__}"
    evidence["l_type"] = f"{type(l).__module__}.{type(l).__qualname__}"
    evidence["d_plain"] = type(d) is dict
    evidence["l_plain"] = type(l) is list
    evidence["d"], evidence["d_error"] = _copy_out(d, dict)
    evidence["l"], evidence["l_error"] = _copy_out(l, list)
    return evidence


# -- ex5_speedup -------------------------------------------------------------------


def ex5_results(module: ModuleType, data: list[int], processes: int, n: int) -> dict[str, Any]:
    """Run ``heavy``, ``run_serial`` and ``run_parallel``; return their results."""
    heavy = _plain(module.heavy(3, 1000))
    serial = _plain(module.run_serial(list(data), n))
    with _Tracker() as tracker:
        parallel = _plain(module.run_parallel(list(data), processes, n))
    return {
        "heavy": heavy,
        "serial": serial,
        "parallel": parallel,
        "me": _getpid(),
        "tracked": tracker.report(),
    }


def ex5_compare(
    module: ModuleType, data: list[int], processes: int, n: int, repeat: int
) -> dict[str, Any]:
    """Run ``compare``; return its figures (as builtins) and the processes seen."""
    with _Tracker() as tracker:
        figures = module.compare(list(data), processes, n, repeat)
    return {"figures": _plain(figures), "type": type(figures).__name__, "tracked": tracker.report()}


def ex5_speedup(
    module: ModuleType, data: list[int], processes: int, n: int, settings: dict[str, Any]
) -> Any:
    """Measure ``run_serial`` against ``run_parallel`` with the plugin's speedup protocol.

    ``settings`` are the run's speedup options (budget, lock, minimum speedup).
    """
    from pytest_mpcheck.speedup.measure import measure_speedup

    return measure_speedup(
        lambda: module.run_serial(list(data), n),
        lambda: module.run_parallel(list(data), processes, n),
        **settings,
    )


def ex3_shutdown(module: ModuleType, count: int, n_consumers: int, timeout: float) -> Any:
    """Check ``producer`` and ``consumer`` together with the plugin's sentinel-shutdown check.

    Returns its picklable ``ShutdownReport``.
    """
    from pytest_mpcheck.sentinel import check_sentinel_shutdown

    return check_sentinel_shutdown(
        module.producer,
        module.consumer,
        list(range(count)),
        n_consumers=n_consumers,
        timeout=timeout,
        # The kit's own consumer test checks the sentinel one by one; one round is enough.
        check_needed=False,
        settle=0.3,
    )
