"""assert_sentinel_shutdown: does a queue pipeline shut down on its sentinel?

The classic producer/consumer shape: a producer puts every item on a queue, then
one sentinel (``None`` by default) per consumer; each consumer takes items until it
takes a sentinel, then returns. :func:`check_sentinel_shutdown` runs the code
under test in real processes of a given context and watches every queue call
through recording wrappers, so it can say exactly what went wrong:

- every item taken exactly once (in order with one consumer), forwarded to
  ``out_q``, nothing left in the queue;
- each consumer returns right after its own sentinel, takes nothing after it,
  and exits with code 0 within the deadline;
- one sentinel per consumer is enough (a run with ``n`` sentinels ends) and
  needed (a run with ``n - 1`` sentinels leaves exactly one consumer waiting);
- no process is left alive: whatever is stuck is shown where it is stuck
  (:mod:`pytest_mpcheck.stacks`) and killed.

:func:`check_pipeline_shutdown` checks a whole pipeline function instead
(``run_pipeline(items, n_consumers) -> list``): its result, the exit codes of
the processes it started, and, when it hangs, why.

Both return a picklable :class:`ShutdownReport` (the kit runs them in its sandbox
child and judges in pytest); ``assert_*`` fail the test with its problems. Every
wait has a deadline and every process started here is killed in a ``finally``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.queues
import os
import pickle
import queue as queue_module
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import psutil
import pytest

from pytest_mpcheck import proctree
from pytest_mpcheck._sentinel_child import (
    OutQueue,
    RecordingQueue,
    _consumer_main,
    _pipeline_main,
    _producer_main,
)
from pytest_mpcheck.i18n import _, ngettext
from pytest_mpcheck.processes import is_helper_process
from pytest_mpcheck.stacks import ProcessStack, dump_stacks, format_stacks

__all__ = [
    "DEFAULT_SETTLE",
    "DEFAULT_TIMEOUT",
    "SentinelShutdown",
    "ShutdownReport",
    "assert_pipeline_shutdown",
    "assert_sentinel_shutdown",
    "check_pipeline_shutdown",
    "check_sentinel_shutdown",
    "sentinel_shutdown",
]

#: Seconds a whole run (one round of the check) may take before what is still
#: alive is reported as stuck and killed.
DEFAULT_TIMEOUT = 20.0

#: Seconds of quiet after which consumers waiting in ``get()`` on an empty queue,
#: with the producer finished, are taken as stuck (nothing can ever reach them).
#: A consumer that gives up on a ``get()`` timeout longer than this is not caught.
DEFAULT_SETTLE = 1.0

QUEUE_KINDS = ("queue", "joinable", "simple", "manager")

#: A pipeline that has not returned after this many seconds is looked at (py-spy)
#: every PROBE_EVERY seconds; two identical looks at a certain deadlock end it early.
PROBE_AFTER = 1.5
PROBE_EVERY = 1.0

#: How many of the items the second run (one sentinel fewer) uses.
NEEDED_CHECK_ITEMS = 20

# How many items a message quotes before "...".
_SAMPLE = 5


# ------------------------------------------------------------------------ the report


@dataclass
class ShutdownReport:
    """What a shutdown check found; picklable, so it can cross a process boundary."""

    kind: str  # "sentinel" or "pipeline"
    start_method: str
    n_consumers: int
    n_items: int
    sentinel: str  # repr of the sentinel
    queue_kind: str
    problems: list[str] = field(default_factory=list)
    #: Hang report (where each stuck process was blocked), empty when nothing hung.
    stacks: str = ""
    #: Exit code per process role (``None``: was still alive and had to be killed).
    exitcodes: dict[str, int | None] = field(default_factory=dict)
    #: Processes that were still alive at the end and were killed.
    killed: list[str] = field(default_factory=list)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the check found nothing wrong."""
        return not self.problems

    @property
    def message(self) -> str:
        """The learner-facing failure text: each problem, then the hang report."""
        if self.ok:
            return _("shutdown on the sentinel is correct")
        consumers = ngettext("{n} consumer", "{n} consumers", self.n_consumers).format(
            n=self.n_consumers
        )
        items = ngettext("{n} item", "{n} items", self.n_items).format(n=self.n_items)
        lines = [
            _("{kind} check under {method} ({consumers}, {items}):").format(
                kind=self.kind, method=self.start_method, consumers=consumers, items=items
            )
        ]
        lines.extend(f"- {problem}" for problem in self.problems)
        if self.stacks:
            lines.append("")
            lines.append(self.stacks)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------- helpers


def _resolve_context(context: BaseContext | str | None) -> Any:
    # Any: typeshed's BaseContext does not declare Process, Queue, ... .
    if context is None:
        return multiprocessing.get_context()
    if isinstance(context, str):
        return multiprocessing.get_context(context)
    return context


def _is_sentinel(value: Any, sentinel: Any) -> bool:
    if value is sentinel:
        return True
    try:
        return type(value) is type(sentinel) and bool(value == sentinel)
    except Exception:
        return False


def _key(value: Any) -> bytes | str:
    """A hashable stand-in for an item, equal for equal items that crossed a process.

    Items need not be hashable, and ``repr`` of a plain object shows its address,
    which differs once it has been pickled; its pickle does not.
    """
    try:
        return pickle.dumps(value, protocol=4)
    except Exception:
        return repr(value)


def _same_list(got: Sequence[Any], want: Sequence[Any]) -> bool:
    """Equal lists, item by item: ``==``, or else the same pickle (objects without ``__eq__``)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        try:
            if a == b:
                continue
        except Exception:
            pass
        if _key(a) != _key(b):
            return False
    return True


def _sample(values: Sequence[Any]) -> str:
    shown = ", ".join(_short(v) for v in values[:_SAMPLE])
    return f"[{shown}, ...]" if len(values) > _SAMPLE else f"[{shown}]"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(text: str, lines: int = 8) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept)


def _drain(log: Any, sink: list[tuple[str, str, Any]], wait: float) -> int:
    """Move what is in ``log`` into ``sink``, waiting at most ``wait`` for the first entry."""
    count = 0
    timeout = wait
    while True:
        try:
            entry = log.get(timeout=timeout) if timeout > 0 else log.get_nowait()
        except (queue_module.Empty, EOFError, OSError):
            return count
        # Each message is a batch of events (see _sentinel_child).
        sink.extend(entry)
        count += 1
        timeout = 0.0


def _exit_problem(label: str, code: int | None) -> str | None:
    if code is None or code == 0:
        return None
    if code < 0:
        return _("{who} was killed by signal {signal}").format(who=label, signal=-code)
    return _("{who} exited with code {code}").format(who=label, code=code)


def _kill(procs: Iterable[BaseProcess]) -> list[str]:
    """Kill ``procs`` and their descendants; return labels of those that were alive."""
    alive: list[int] = []
    labels: list[str] = []
    for proc in procs:
        pid = proc.pid
        if pid is None:
            continue
        with contextlib.suppress(Exception):
            if proc.is_alive():
                labels.append(f"{proc.name} (pid {pid})")
        alive.append(pid)
    proctree.kill_tree(alive, timeout=5.0)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(5.0)
    return labels


@dataclass
class _Role:
    """What one process did, rebuilt from the log."""

    label: str
    started: bool = False
    returned: bool = False
    raised: str | None = None
    events: list[tuple[str, Any]] = field(default_factory=list)

    def in_get(self) -> bool:
        """Whether the last queue call was a get() that has not returned."""
        for kind, _value in reversed(self.events):
            if kind == "get":
                return True
            if kind in {"got", "empty"}:
                return False
        return False

    def taken(self) -> list[Any]:
        return [value for kind, value in self.events if kind == "got"]

    def put(self) -> list[Any]:
        return [value for kind, value in self.events if kind == "put"]

    def forwarded(self) -> list[Any]:
        return [value for kind, value in self.events if kind == "out"]

    def task_done(self) -> int:
        return sum(1 for kind, _value in self.events if kind == "task_done")


@dataclass
class _Round:
    roles: dict[str, _Role]
    exitcodes: dict[str, int | None]
    leftover: list[Any]
    stuck: list[str]  # roles still alive at the end (killed)
    timed_out: bool
    stacks: str
    flushing: list[str]  # roles stuck flushing a queue at exit
    killed: list[str]
    start_error: str | None = None  # a learner-facing reason a process could not start
    #: Processes a role started and left running after it ended (killed).
    left_running: dict[str, list[str]] = field(default_factory=dict)


def _make_queue(
    ctx: Any, factory: Callable[[], Any] | str | None, stack: contextlib.ExitStack
) -> tuple[Any, str]:
    if factory is None or factory == "queue":
        return ctx.Queue(), "queue"
    if factory == "joinable":
        return ctx.JoinableQueue(), "joinable"
    if factory == "simple":
        return ctx.SimpleQueue(), "simple"
    if factory == "manager":
        manager = ctx.Manager()
        stack.callback(_shutdown_manager, manager)
        return manager.Queue(), "manager"
    if isinstance(factory, str):
        raise ValueError(
            _("unknown queue kind {kind!r}: use one of {kinds}").format(
                kind=factory, kinds=", ".join(QUEUE_KINDS)
            )
        )
    made = factory()
    kind = "joinable" if isinstance(made, multiprocessing.queues.JoinableQueue) else "custom"
    return made, kind


def _shutdown_manager(manager: Any) -> None:
    process = getattr(manager, "_process", None)
    with contextlib.suppress(Exception):
        manager.shutdown()
    if process is not None and process.is_alive():
        proctree.kill_tree([process.pid], timeout=5.0)


def _close_queue(q: Any) -> None:
    # The harness never puts on these queues, but a queue it created keeps a
    # feeder-free reader; close so that nothing waits for it at exit.
    with contextlib.suppress(Exception):
        q.cancel_join_thread()
    with contextlib.suppress(Exception):
        q.close()


def _leftover(q: Any) -> list[Any]:
    """Empty ``q`` from the harness, with a short deadline, and return what was in it."""
    left: list[Any] = []
    deadline = time.monotonic() + 5.0
    if not hasattr(q, "get_nowait"):
        # A SimpleQueue (no timeout): every process is gone, so empty() is exact
        # and get() after it cannot block.
        with contextlib.suppress(Exception):
            while time.monotonic() < deadline and not q.empty():
                left.append(q.get())
        return left
    while time.monotonic() < deadline:
        try:
            left.append(q.get(timeout=0.2))
        except (queue_module.Empty, EOFError, OSError):
            break
        except Exception:
            break
    return left


def _looks_empty(q: Any) -> bool:
    try:
        return bool(q.empty())
    except Exception:
        return True


# ---------------------------------------------------------------- one round


def _run_round(
    ctx: Any,
    producer: Callable[..., Any],
    consumer: Callable[..., Any],
    items: list[Any],
    *,
    n_consumers: int,
    n_sentinels: int,
    factory: Callable[[], Any] | str | None,
    sentinel: Any,
    timeout: float,
    settle: float,
) -> tuple[_Round, str]:
    roles: dict[str, _Role] = {"producer": _Role(_("the producer"))}
    for i in range(n_consumers):
        roles[f"c{i}"] = _Role(_("consumer {n}").format(n=i + 1))
    entries: list[tuple[str, str, Any]] = []
    procs: dict[str, BaseProcess] = {}
    exitcodes: dict[str, int | None] = {}
    stuck: list[str] = []
    stacks_text = ""
    flushing: list[str] = []
    killed: list[str] = []
    leftover: list[Any] = []
    timed_out = False
    start_error: str | None = None
    left_running: dict[str, list[str]] = {}
    dumped: list[ProcessStack] = []
    with contextlib.ExitStack() as stack:
        q, kind = _make_queue(ctx, factory, stack)
        log = ctx.Queue()
        stack.callback(_close_queue, log)
        try:
            for i in range(n_consumers):
                role = f"c{i}"
                procs[role] = ctx.Process(
                    target=_consumer_main,
                    args=(
                        consumer,
                        RecordingQueue(q, log, role, sentinel),
                        OutQueue(log, role),
                        log,
                        role,
                    ),
                    name=f"mpcheck-consumer-{i + 1}",
                    daemon=False,
                )
            procs["producer"] = ctx.Process(
                target=_producer_main,
                args=(
                    producer,
                    RecordingQueue(q, log, "producer", sentinel),
                    items,
                    n_sentinels,
                    log,
                ),
                name="mpcheck-producer",
                daemon=False,
            )
            for role_name, proc in procs.items():
                try:
                    proc.start()
                except Exception as exc:
                    start_error = _start_problem(roles[role_name].label, ctx, exc)
                    break
            deadline = time.monotonic() + timeout
            quiet_since = time.monotonic()
            while start_error is None:
                if _drain(log, entries, 0.05):
                    quiet_since = time.monotonic()
                    _apply(entries, roles)
                alive = [r for r, p in procs.items() if p.is_alive()]
                if not alive:
                    break
                now = time.monotonic()
                if now > deadline:
                    timed_out = True
                    stuck = alive
                    break
                producer_alive = "producer" in alive
                consumers_alive = [r for r in alive if r != "producer"]
                suspect = False
                if now - quiet_since > settle:
                    if producer_alive:
                        # Returned but cannot exit: flushing a queue nobody reads.
                        suspect = roles["producer"].returned and not consumers_alive
                    else:
                        # The producer's process is gone, so everything it put is in
                        # the queue; consumers waiting on an empty queue wait forever.
                        suspect = all(roles[r].in_get() for r in consumers_alive) and (
                            _looks_empty(q)
                        )
                if suspect:
                    # The log may lag behind under load: confirm with the stacks.
                    dumped = dump_stacks(_pids_of(procs, alive, roles))
                    if _confirmed(dumped):
                        stuck = alive
                        break
                    quiet_since = time.monotonic()
            # What exited has flushed its log into the pipe; take the rest.
            _drain(log, entries, 0.2)
            _apply(entries, roles)
            if stuck:
                if timed_out:
                    dumped = dump_stacks(_pids_of(procs, stuck, roles))
                flushing = [
                    r
                    for r in stuck
                    if any(s.flushing_queue and s.pid == procs[r].pid for s in dumped)
                ]
                stacks_text = format_stacks(dumped)
            elif start_error is None:
                leftover = _leftover(q)
        finally:
            groups = {p.pid: r for r, p in procs.items() if p.pid is not None}
            for role_name, info in _end_groups(groups, set(groups)):
                if role_name not in stuck:
                    left_running.setdefault(role_name, []).append(info)
            killed = _kill(procs.values())
            for role, proc in procs.items():
                exitcodes[role] = None if role in stuck else proc.exitcode
            _close_queue(q)
    return (
        _Round(
            roles,
            exitcodes,
            leftover,
            stuck,
            timed_out,
            stacks_text,
            flushing,
            killed,
            start_error,
            left_running,
        ),
        kind,
    )


def _end_groups(groups: dict[int, str], exclude: set[int]) -> list[tuple[str, str]]:
    """Kill what is left in the process groups the roles lead; return (role, process).

    Each role's process leads a group of its own (see ``_sentinel_child``), so the
    processes the code under test started are found even once re-parented.
    """
    found: list[tuple[str, psutil.Process]] = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid in exclude or proc.pid == os.getpid():
                continue
            role = groups.get(os.getpgid(proc.pid))
            if role is not None and proc.status() != psutil.STATUS_ZOMBIE:
                found.append((role, proc))
    described = [
        (role, str(proctree.describe(proc))) for role, proc in found if not is_helper_process(proc)
    ]
    if found:
        proctree.kill_tree([proc for _role, proc in found], timeout=5.0)
    return described


def _start_problem(label: str, ctx: Any, exc: BaseException) -> str:
    """Why ``label``'s process could not start: nearly always a function spawn cannot send."""
    return _(
        "{who} could not be started under {method}: {error}. Under spawn and forkserver "
        "the child imports the function by name: define it at the top level of a module "
        "(not a lambda, not a function inside another function)"
    ).format(who=label, method=ctx.get_start_method(), error=f"{type(exc).__name__}: {exc}")


def _pids_of(
    procs: dict[str, BaseProcess], names: Iterable[str], roles: dict[str, _Role]
) -> dict[int, str]:
    pids: dict[int, str] = {}
    for name in names:
        pid = procs[name].pid
        if pid is not None:
            pids[pid] = roles[name].label
    return pids


def _confirmed(dumped: Sequence[ProcessStack]) -> bool:
    """Whether the stacks confirm that nothing can progress any more.

    Each process must be waiting in ``get()`` or stuck flushing a queue at exit. A
    process that exited meanwhile means it was not stuck. Without py-spy the
    log's evidence stands.
    """
    for stack in dumped:
        if stack.exited:
            return False
        if not stack.available:
            continue
        if stack.flushing_queue:
            continue
        if stack.busy or stack.blocked_in not in _GET_CALLS:
            return False
    return True


def _apply(entries: list[tuple[str, str, Any]], roles: dict[str, _Role]) -> None:
    for role_name, kind, value in entries:
        role = roles.get(role_name)
        if role is None:
            continue
        if kind == "start":
            role.started = True
        elif kind == "returned":
            role.returned = True
        elif kind == "raised":
            role.raised = str(value)
        else:
            role.events.append((kind, value))
    entries.clear()


# ------------------------------------------------------------- judging a round


def _judge_enough(
    rnd: _Round,
    items: list[Any],
    sentinel: Any,
    n_consumers: int,
    queue_kind: str,
    timeout: float,
) -> list[str]:
    """Problems of the round with one sentinel per consumer."""
    if rnd.start_error is not None:
        return [rnd.start_error]
    problems: list[str] = []
    producer = rnd.roles["producer"]
    sentinel_text = repr(sentinel)

    # The producer.
    if producer.raised is not None:
        problems.append(
            _("the producer raised an exception:\n{traceback}").format(
                traceback=_tail(producer.raised)
            )
        )
    else:
        problem = _exit_problem(_("the producer"), rnd.exitcodes.get("producer"))
        if problem and "producer" not in rnd.stuck:
            problems.append(problem)
    put = producer.put()
    put_items = [x for x in put if not _is_sentinel(x, sentinel)]
    n_put_sentinels = len(put) - len(put_items)
    if producer.returned or "producer" not in rnd.stuck:
        if not _same_list(put_items, items):
            if Counter(map(_key, put_items)) == Counter(map(_key, items)):
                problems.append(_("the producer put the items out of order: put them in order"))
            else:
                problems.append(
                    _(
                        "the producer put {got} items, {got_sample}, but was given {n}: {sample}"
                    ).format(
                        got=len(put_items),
                        got_sample=_sample(put_items),
                        n=len(items),
                        sample=_sample(items),
                    )
                )
        first_sentinel = next((i for i, x in enumerate(put) if _is_sentinel(x, sentinel)), None)
        if first_sentinel is not None and any(
            not _is_sentinel(x, sentinel) for x in put[first_sentinel:]
        ):
            problems.append(
                _(
                    "the producer put a sentinel before the last item: put every item "
                    "first, then the sentinels"
                )
            )
    waiting = [r for r in rnd.stuck if r != "producer" and rnd.roles[r].in_get()]
    sentinel_problem = producer.returned and n_put_sentinels != n_consumers
    if producer.returned and n_put_sentinels == 0:
        problems.append(
            _(
                "the producer never put a sentinel: after the last item, put one sentinel "
                "({sentinel}) per consumer so that each consumer knows the stream has ended"
            ).format(sentinel=sentinel_text)
        )
    elif producer.returned and n_put_sentinels < n_consumers:
        if waiting:
            problems.append(
                _(
                    "{waiting} of {n} consumers still waiting in `get()` after the producer "
                    "finished: put one sentinel per consumer (the producer put {put} for {n})"
                ).format(waiting=len(waiting), n=n_consumers, put=n_put_sentinels)
            )
        else:
            problems.append(
                _(
                    "the producer put {put} sentinels for {n} consumers: put one sentinel "
                    "per consumer"
                ).format(put=n_put_sentinels, n=n_consumers)
            )
    elif n_put_sentinels > n_consumers:
        problems.append(
            _(
                "the producer put {put} sentinels for {n} consumers: put exactly one per "
                "consumer (the extra ones are left in the queue)"
            ).format(put=n_put_sentinels, n=n_consumers)
        )

    # Each consumer.
    taken_items: list[Any] = []
    for role_name in (f"c{i}" for i in range(n_consumers)):
        role = rnd.roles[role_name]
        label = role.label
        taken = role.taken()
        first = next((i for i, x in enumerate(taken) if _is_sentinel(x, sentinel)), None)
        before = taken if first is None else taken[:first]
        taken_items.extend(before)
        after = [] if first is None else taken[first + 1 :]
        if role.raised is not None:
            problems.append(
                _("{who} raised an exception:\n{traceback}").format(
                    who=label, traceback=_tail(role.raised)
                )
            )
        elif role_name not in rnd.stuck:
            problem = _exit_problem(label, rnd.exitcodes.get(role_name))
            if problem:
                problems.append(problem)
        if after:
            problems.append(
                (
                    _(
                        "{who} took an item after its sentinel: {item} (another consumer's "
                        "sentinel); a consumer must return right after taking its sentinel"
                    )
                    if _is_sentinel(after[0], sentinel)
                    else _(
                        "{who} took an item after its sentinel: {item}; a consumer must "
                        "return right after taking its sentinel"
                    )
                ).format(who=label, item=_short(after[0]))
            )
        elif first is not None and role_name in rnd.stuck and role.in_get():
            problems.append(
                _(
                    "{who} called get() again after its sentinel and is still waiting: "
                    "return right after taking the sentinel"
                ).format(who=label)
            )
        elif first is not None and _got_again(role, sentinel):
            problems.append(
                _(
                    "{who} called get() again after its sentinel: return right after "
                    "taking the sentinel"
                ).format(who=label)
            )
        if first is None and role.returned and role.raised is None:
            problems.append(
                _(
                    "{who} returned without taking a sentinel: keep calling get() until it "
                    "returns the sentinel (do not stop when the queue looks empty or a get() "
                    "times out)"
                ).format(who=label)
            )
        forwarded = role.forwarded()
        if any(_is_sentinel(x, sentinel) for x in forwarded):
            problems.append(
                _("{who} forwarded the sentinel to out_q: forward only the items").format(who=label)
            )
            forwarded = [x for x in forwarded if not _is_sentinel(x, sentinel)]
        if not _same_list(forwarded, before) and role.raised is None:
            if len(forwarded) != len(before):
                problems.append(
                    _("{who} took {taken} items but forwarded {forwarded} to out_q").format(
                        who=label, taken=len(before), forwarded=len(forwarded)
                    )
                )
            else:
                problems.append(
                    _(
                        "{who} did not forward to out_q exactly the items it took, in the order "
                        "it took them"
                    ).format(who=label)
                )
        if role_name in rnd.stuck and role_name not in waiting:
            problems.append(_stuck_problem(label, rnd, role_name, timeout))

    unexplained = [
        r for r in waiting if not any(_is_sentinel(x, sentinel) for x in rnd.roles[r].taken())
    ]
    if unexplained and not sentinel_problem:
        problems.append(
            _(
                "{waiting} of {n} consumers still waiting in `get()` after the producer "
                "finished, though it put {put} sentinels: a consumer took more than its own "
                "sentinel"
            ).format(waiting=len(unexplained), n=n_consumers, put=n_put_sentinels)
        )

    # Every item taken exactly once.
    if not rnd.stuck:
        examples = {_key(x): x for x in [*items, *taken_items]}
        surplus = Counter(map(_key, taken_items)) - Counter(map(_key, items))
        if surplus:
            problems.append(
                _("items taken more often than they were put: {sample}").format(
                    sample=_sample([examples[r] for r in surplus.elements()])
                )
            )
        left_items = [x for x in rnd.leftover if not _is_sentinel(x, sentinel)]
        left_sentinels = len(rnd.leftover) - len(left_items)
        if left_items:
            problems.append(
                ngettext(
                    "{count} item left in the queue after the consumers finished: {sample}",
                    "{count} items left in the queue after the consumers finished: {sample}",
                    len(left_items),
                ).format(count=len(left_items), sample=_sample(left_items))
            )
        each_took_one = all(
            sum(1 for x in rnd.roles[f"c{i}"].taken() if _is_sentinel(x, sentinel)) == 1
            for i in range(n_consumers)
        )
        # Only then is a sentinel left over one a consumer put back; otherwise it
        # is explained by the problems above (too many, or a consumer that left early).
        if left_sentinels and n_put_sentinels <= n_consumers and each_took_one:
            problems.append(
                ngettext(
                    "{count} sentinel left in the queue after the consumers finished: a "
                    "consumer put its sentinel back",
                    "{count} sentinels left in the queue after the consumers finished: a "
                    "consumer put its sentinel back",
                    left_sentinels,
                ).format(count=left_sentinels)
            )
        if n_consumers == 1 and not problems and not _same_list(taken_items, items):
            problems.append(
                _("with one consumer the items must be taken in the order they were put")
            )

    # JoinableQueue: one task_done() per get().
    if queue_kind == "joinable" and not rnd.stuck:
        gets = sum(len(rnd.roles[f"c{i}"].taken()) for i in range(n_consumers))
        done = sum(rnd.roles[f"c{i}"].task_done() for i in range(n_consumers))
        if done != gets:
            problems.append(
                _(
                    "consumers called task_done() {done} times for {gets} items taken "
                    "(sentinels included): call it once after each get(), or q.join() "
                    "never returns"
                ).format(done=done, gets=gets)
            )

    if "producer" in rnd.stuck:
        problems.append(_stuck_problem(_("the producer"), rnd, "producer", timeout))
    for role_name, processes in rnd.left_running.items():
        problems.append(
            ngettext(
                "{who} left {count} process running after it ended: {processes}",
                "{who} left {count} processes running after it ended: {processes}",
                len(processes),
            ).format(
                who=rnd.roles[role_name].label,
                count=len(processes),
                processes="; ".join(processes),
            )
        )
    return problems


def _got_again(role: _Role, sentinel: Any) -> bool:
    """Whether ``role`` called get() again after taking its (first) sentinel."""
    seen = False
    for kind, value in role.events:
        if seen and kind == "get":
            return True
        if kind == "got" and _is_sentinel(value, sentinel):
            seen = True
    return False


def _stuck_problem(label: str, rnd: _Round, role_name: str, timeout: float) -> str:
    role = rnd.roles[role_name]
    if role_name in rnd.flushing:
        return _(
            "{who} returned but is blocked flushing its queue: items it put were never "
            "taken (a process that put items on a queue waits at exit until they are read)"
        ).format(who=label)
    if role.returned:
        return _("{who} returned but its process did not exit within {seconds:.0f} s").format(
            who=label, seconds=timeout
        )
    if role.in_get():
        return _("{who} is still waiting in get()").format(who=label)
    if rnd.timed_out:
        return _("{who} did not finish within {seconds:.0f} s").format(who=label, seconds=timeout)
    return _("{who} did not finish").format(who=label)


def _judge_needed(rnd: _Round, sentinel: Any, n_consumers: int, n_sentinels: int) -> list[str]:
    """Problems of the round with one sentinel fewer than consumers."""
    if rnd.start_error is not None:
        return [rnd.start_error]
    problems: list[str] = []
    for i in range(n_consumers):
        role = rnd.roles[f"c{i}"]
        if role.raised is not None:
            problems.append(
                _("{who} raised an exception:\n{traceback}").format(
                    who=role.label, traceback=_tail(role.raised)
                )
            )
            continue
        took_sentinel = any(_is_sentinel(x, sentinel) for x in role.taken())
        if role.returned and not took_sentinel:
            if n_sentinels == 0:
                text = _(
                    "with no sentinel in the queue, {who} still returned: keep calling get() "
                    "until it returns the sentinel (do not stop when the queue looks empty "
                    "or a get() times out)"
                )
            else:
                text = ngettext(
                    "with {sentinels} sentinel for {n} consumers, {who} still returned "
                    "without taking one: keep calling get() until it returns the sentinel "
                    "(do not stop when the queue looks empty or a get() times out)",
                    "with {sentinels} sentinels for {n} consumers, {who} still returned "
                    "without taking one: keep calling get() until it returns the sentinel "
                    "(do not stop when the queue looks empty or a get() times out)",
                    n_sentinels,
                )
            problems.append(text.format(sentinels=n_sentinels, n=n_consumers, who=role.label))
    return problems


# ---------------------------------------------------------------- public API


def check_sentinel_shutdown(
    producer: Callable[..., Any],
    consumer: Callable[..., Any],
    items: Iterable[Any],
    *,
    n_consumers: int = 1,
    context: BaseContext | str | None = None,
    queue_factory: Callable[[], Any] | str | None = None,
    sentinel: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
    settle: float = DEFAULT_SETTLE,
    check_needed: bool = True,
) -> ShutdownReport:
    """Run ``producer`` and ``n_consumers`` consumers in processes and check their shutdown.

    ``producer(q, items, n_sentinels)`` and ``consumer(q, out_q)`` are top-level
    callables (as in the exercise contract's ex3). ``context`` is a
    ``multiprocessing`` context or a start method name (default: the default
    context). ``queue_factory`` makes the queue: a no-argument callable (for
    example ``mp_manager.Queue``) or one of ``"queue"``, ``"joinable"``,
    ``"manager"``. ``sentinel`` is the value the code under test uses to end the
    stream. With ``check_needed`` a second run with one sentinel fewer checks
    that each consumer really waits for its own sentinel.

    Never hangs: each run ends within about ``timeout`` seconds and whatever is
    still alive is shown where it is stuck, then killed.
    """
    started = time.monotonic()
    items = list(items)
    ctx = _resolve_context(context)
    if n_consumers < 1:
        raise ValueError(_("n_consumers must be at least 1"))
    if any(_is_sentinel(x, sentinel) for x in items):
        raise ValueError(
            _("the items contain the sentinel {sentinel}: choose another sentinel").format(
                sentinel=repr(sentinel)
            )
        )
    rnd, kind = _run_round(
        ctx,
        producer,
        consumer,
        items,
        n_consumers=n_consumers,
        n_sentinels=n_consumers,
        factory=queue_factory,
        sentinel=sentinel,
        timeout=timeout,
        settle=settle,
    )
    problems = _judge_enough(rnd, items, sentinel, n_consumers, kind, timeout)
    stacks = rnd.stacks
    killed = list(rnd.killed)
    exitcodes = {rnd.roles[r].label: code for r, code in rnd.exitcodes.items()}
    if not problems and check_needed:
        fewer = n_consumers - 1
        # A few items are enough to see whether a consumer stops without its sentinel.
        rnd_b, _kind = _run_round(
            ctx,
            producer,
            consumer,
            items[:NEEDED_CHECK_ITEMS],
            n_consumers=n_consumers,
            n_sentinels=fewer,
            factory=queue_factory,
            sentinel=sentinel,
            timeout=timeout,
            settle=settle,
        )
        problems.extend(_judge_needed(rnd_b, sentinel, n_consumers, fewer))
    return ShutdownReport(
        kind="sentinel",
        start_method=ctx.get_start_method(),
        n_consumers=n_consumers,
        n_items=len(items),
        sentinel=repr(sentinel),
        queue_kind=kind,
        problems=problems,
        stacks=stacks,
        exitcodes=exitcodes,
        killed=killed,
        duration=time.monotonic() - started,
    )


def _fail(report: ShutdownReport) -> None:
    if report.ok:
        return
    pytest.fail(report.message, pytrace=False)


def assert_sentinel_shutdown(
    producer: Callable[..., Any],
    consumer: Callable[..., Any],
    items: Iterable[Any],
    **kwargs: Any,
) -> ShutdownReport:
    """:func:`check_sentinel_shutdown`, failing the test with the problems it finds."""
    report = check_sentinel_shutdown(producer, consumer, items, **kwargs)
    _fail(report)
    return report


# ---------------------------------------------------------------- whole pipeline


def check_pipeline_shutdown(
    run_pipeline: Callable[..., Any],
    items: Iterable[Any],
    *,
    n_consumers: int = 1,
    context: BaseContext | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ShutdownReport:
    """Run ``run_pipeline(items, n_consumers)`` in a child process and check it.

    The result must hold every item exactly once (in order with one consumer);
    every process the pipeline started must have exited with code 0 when it
    returns. When it does not return in ``timeout`` seconds, the report shows
    where each of its processes is stuck and says why when it can tell (a child
    blocked flushing its queue because it was joined before the queue was drained,
    consumers waiting for sentinels that never come).
    """
    started = time.monotonic()
    items = list(items)
    ctx = _resolve_context(context)
    problems: list[str] = []
    stacks_text = ""
    killed: list[str] = []
    exitcodes: dict[str, int | None] = {}
    result_q = ctx.Queue()
    proc = ctx.Process(
        target=_pipeline_main,
        args=(run_pipeline, items, n_consumers, result_q),
        name="mpcheck-pipeline",
        daemon=False,
    )
    outcome: tuple[str, Any, list[tuple[str, int | None, bool]]] | None = None
    try:
        try:
            proc.start()
        except Exception as exc:
            problems.append(_start_problem("run_pipeline", ctx, exc))
            return ShutdownReport(
                kind="pipeline",
                start_method=ctx.get_start_method(),
                n_consumers=n_consumers,
                n_items=len(items),
                sentinel="",
                queue_kind="",
                problems=problems,
                duration=time.monotonic() - started,
            )
        deadline = time.monotonic() + timeout
        next_probe = time.monotonic() + PROBE_AFTER
        last_signature: tuple[Any, ...] | None = None
        dumped: list[ProcessStack] = []
        deadlocked = False
        while outcome is None and time.monotonic() < deadline:
            try:
                outcome = result_q.get(timeout=0.1)
            except queue_module.Empty:
                if not proc.is_alive():
                    # Exited without a word: give what it flushed a moment to arrive.
                    with contextlib.suppress(queue_module.Empty):
                        outcome = result_q.get(timeout=1.0)
                    break
                if time.monotonic() >= next_probe and proc.pid is not None:
                    # A deadlock is certain when every process of the tree waits on
                    # another and nothing changed between two looks: report it now
                    # rather than at the deadline.
                    dumped = _dump_tree(proc.pid)
                    signature = _deadlock_signature(dumped, proc.pid)
                    if signature is not None and signature == last_signature:
                        deadlocked = True
                        break
                    last_signature = signature
                    next_probe = time.monotonic() + PROBE_EVERY
        if outcome is None and proc.is_alive():
            if not deadlocked and proc.pid is not None:
                dumped = _dump_tree(proc.pid)
            stacks_text = format_stacks(dumped)
            if deadlocked:
                problems.append(
                    _(
                        "run_pipeline is deadlocked: each of its processes waits for another "
                        "and none can go on"
                    )
                )
            else:
                problems.append(
                    _("run_pipeline did not return within {seconds:.0f} s").format(seconds=timeout)
                )
            problems.extend(_diagnose_pipeline_hang(dumped, proc.pid, n_consumers))
        elif outcome is None:
            problems.append(
                _exit_problem(_("the process running run_pipeline"), proc.exitcode)
                or _("run_pipeline ended its process without returning")
            )
        else:
            proc.join(10.0)
    finally:
        if proc.pid is not None and proc.is_alive():
            killed = [str(info) for info in proctree.kill_tree([proc.pid], timeout=5.0)]
        if proc.pid is not None:
            # The pipeline's process led a group: end what escaped its tree too.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.join(5.0)
        exitcodes["run_pipeline"] = proc.exitcode
        _close_queue(result_q)
    if outcome is not None:
        problems.extend(_judge_pipeline(outcome, items, n_consumers))
    return ShutdownReport(
        kind="pipeline",
        start_method=ctx.get_start_method(),
        n_consumers=n_consumers,
        n_items=len(items),
        sentinel="",
        queue_kind="",
        problems=problems,
        stacks=stacks_text,
        exitcodes=exitcodes,
        killed=killed,
        duration=time.monotonic() - started,
    )


def _judge_pipeline(
    outcome: tuple[str, Any, list[tuple[str, int | None, bool]]],
    items: list[Any],
    n_consumers: int,
) -> list[str]:
    status, value, processes = outcome
    problems: list[str] = []
    if status == "raised":
        return [_("run_pipeline raised an exception:\n{traceback}").format(traceback=_tail(value))]
    if status == "unpicklable":
        return [_("run_pipeline returned {type}, which cannot be pickled").format(type=value)]
    for name, code, alive in processes:
        if alive:
            problems.append(
                _(
                    "process {name} was still running when run_pipeline returned: join every "
                    "process you start before returning"
                ).format(name=name)
            )
        else:
            problem = _exit_problem(_("process {name}").format(name=name), code)
            if problem:
                problems.append(problem)
    if not isinstance(value, list):
        problems.append(
            _("run_pipeline returned {type}, not a list").format(type=type(value).__name__)
        )
        return problems
    if n_consumers == 1 and _same_list(value, items):
        return problems
    examples = {_key(x): x for x in [*items, *value]}
    got = Counter(map(_key, value))
    want = Counter(map(_key, items))
    missing = [examples[r] for r in (want - got).elements()]
    extra = [examples[r] for r in (got - want).elements()]
    if missing:
        problems.append(
            ngettext(
                "{count} item never came out of the pipeline: {sample}",
                "{count} items never came out of the pipeline: {sample}",
                len(missing),
            ).format(count=len(missing), sample=_sample(missing))
        )
    if extra:
        problems.append(
            _("the pipeline returned items it was not given, or some twice: {sample}").format(
                sample=_sample(extra)
            )
        )
    if not missing and not extra and n_consumers == 1:
        problems.append(
            _("with one consumer, run_pipeline must return the items in the order they were put")
        )
    return problems


_GET_CALLS = frozenset({"Queue.get", "JoinableQueue.get", "SimpleQueue.get", "get"})


def _dump_tree(pid: int) -> list[ProcessStack]:
    """Where the pipeline's process and each of its descendants is (helpers left out)."""
    pids = {pid: _("the process running run_pipeline")}
    for child in proctree.descendants(pid):
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                continue  # exited, not yet joined
        if is_helper_process(child):
            continue  # a forkserver's server or the resource tracker: never the story
        pids[child.pid] = ""
    # Only the stack tells a forkserver's server from a process it forked (both have
    # the server's command line), so helpers are dropped after the dump; then number.
    kept = [s for s in dump_stacks(pids) if not s.helper]
    return [
        s
        if s.pid == pid
        else dataclasses.replace(s, role=_("process {n} started by run_pipeline").format(n=n))
        for n, s in enumerate(kept)
    ]


def _deadlock_signature(
    dumped: Sequence[ProcessStack], pipeline_pid: int
) -> tuple[Any, ...] | None:
    """A summary of a certain deadlock, or ``None`` when the tree may still progress.

    Certain: every thread of every process is waiting; the pipeline's process waits
    in ``join()`` or ``get()``; every other process waits in ``get()`` or is stuck
    flushing a queue at exit.
    """
    dumped = [s for s in dumped if not s.exited]
    if not dumped or not all(s.available for s in dumped):
        return None
    if any(not t.idle for s in dumped for t in s.threads):
        return None
    main = next((s for s in dumped if s.pid == pipeline_pid), None)
    if main is None or main.blocked_in not in _GET_CALLS | {"BaseProcess.join"}:
        return None
    for stack in dumped:
        if stack is not main and not stack.flushing_queue and stack.blocked_in not in _GET_CALLS:
            return None
    return tuple(sorted((s.pid, s.blocked_in or "", s.flushing_queue) for s in dumped))


def _diagnose_pipeline_hang(
    dumped: Sequence[Any], pipeline_pid: int | None, n_consumers: int
) -> list[str]:
    main = next((s for s in dumped if s.pid == pipeline_pid), None)
    children = [s for s in dumped if s.pid != pipeline_pid]
    problems: list[str] = []
    if any(s.available and s.flushing_queue for s in children):
        problems.append(
            _(
                "a child is blocked flushing its queue because it was joined before the queue "
                "was drained: take every result off the queue first, then join the processes"
            )
        )
        return problems
    waiting = [s for s in children if s.available and s.blocked_in in _GET_CALLS]
    if waiting:
        problems.append(
            _(
                "{waiting} of {n} consumers still waiting in `get()` after the producer "
                "finished: put one sentinel per consumer"
            ).format(waiting=len(waiting), n=n_consumers)
        )
    elif main is not None and main.available and main.blocked_in in _GET_CALLS:
        problems.append(
            _(
                "run_pipeline is waiting in get() for results that never come: take exactly "
                "as many results as the consumers put"
            )
        )
    return problems


def assert_pipeline_shutdown(
    run_pipeline: Callable[..., Any], items: Iterable[Any], **kwargs: Any
) -> ShutdownReport:
    """:func:`check_pipeline_shutdown`, failing the test with the problems it finds."""
    report = check_pipeline_shutdown(run_pipeline, items, **kwargs)
    _fail(report)
    return report


# ---------------------------------------------------------------- fixture


class SentinelShutdown:
    """The ``sentinel_shutdown`` fixture: the assertions bound to the test's context."""

    def __init__(self, context: BaseContext) -> None:
        self.context = context

    def __call__(
        self,
        producer: Callable[..., Any],
        consumer: Callable[..., Any],
        items: Iterable[Any],
        **kwargs: Any,
    ) -> ShutdownReport:
        """:func:`assert_sentinel_shutdown` under the test's start method."""
        kwargs.setdefault("context", self.context)
        return assert_sentinel_shutdown(producer, consumer, items, **kwargs)

    def pipeline(
        self, run_pipeline: Callable[..., Any], items: Iterable[Any], **kwargs: Any
    ) -> ShutdownReport:
        """:func:`assert_pipeline_shutdown` under the test's start method."""
        kwargs.setdefault("context", self.context)
        return assert_pipeline_shutdown(run_pipeline, items, **kwargs)


@pytest.fixture
def sentinel_shutdown(mp_context: BaseContext) -> SentinelShutdown:
    """Assert sentinel shutdown under each start method: ``sentinel_shutdown(prod, cons, items)``.

    Uses ``mp_context``, so the test runs once per selected start method.
    """
    return SentinelShutdown(mp_context)
