"""The kit's checks: run a scenario, weigh its evidence, fail with a diagnosis.

One function per kit test. Each runs one or more scenarios of
:mod:`pytest_mpcheck.kit.scenarios` through a :class:`~pytest_mpcheck.kit.plugin.Kit`
(so the learner's code runs only in the sandbox's child), then checks what the
exercise contract promises, from evidence (pids, exit codes, probe records),
and fails with the learner-facing diagnosis of the first thing that is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_mpcheck.i18n import _, ngettext
from pytest_mpcheck.kit import diagnoses
from pytest_mpcheck.kit.diagnoses import fail
from pytest_mpcheck.kit.plugin import Kit

# How many processes, tasks and items the checks use: small, so the kit is fast.
EX1_N = 3
#: ex1's call timeout (unless the user sets one): its correct version takes well under
#: 2 s, so a worker that never returns (``while True``) is stopped after 12 s, not 30,
#: while staying far from a false timeout on a loaded 2-core machine.
EX1_CALL_TIMEOUT = 12.0
EX2_VALUES = list(range(8))
EX2_PROCESSES = 2
EX3_ITEMS = 200
EX3_CONSUMERS = 3
EX3_BIG_ITEMS = 20_000
EX4_N = 4
EX5_DATA = [1, 2, 3, 4]
EX5_N = 20_000
EX5_SPEEDUP_N = 1_000_000


def probe_wait(kit: Kit) -> float:
    """How long a probe waits for a partner: 5 s, less when the call timeout is short.

    Correct code never waits (partners run within milliseconds); serial code waits
    once, so a short ``--mpcheck-call-timeout`` also shortens that wait.
    """
    return max(1.0, min(5.0, kit.timeout / 6))


def _number(num: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!\d){num}(?!\d)")


def _alive(tracked: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [p for p in tracked if p.get("alive")]


def _check_leftovers(kit: Kit, function: str, tracked: Sequence[Mapping[str, Any]]) -> None:
    alive = _alive(tracked)
    leftovers = list(getattr(kit.last, "leftovers", []) or [])
    if alive or leftovers:
        fail(diagnoses.leftovers(function, alive, [] if alive else leftovers))


def _check_exitcodes(kit: Kit, tracked: Sequence[Mapping[str, Any]], roles: set[str]) -> None:
    for proc in tracked:
        if proc.get("role") in roles and proc.get("exitcode") not in (0, None):
            fail(
                diagnoses.process_failed(
                    _("the {role} process (pid {pid})").format(role=proc["role"], pid=proc["pid"]),
                    proc["exitcode"],
                    getattr(kit.last, "stderr", ""),
                    str(proc.get("name") or ""),
                )
            )


# -- ex1_process -------------------------------------------------------------------


def ex1_worker(kit: Kit) -> None:
    """``worker(num)`` prints one line holding ``num`` and its own pid."""
    ev = kit.run(
        "ex1_process",
        "ex1_worker",
        7,
        function="worker",
        timeout=kit.timeout_for(EX1_CALL_TIMEOUT),
    )
    lines = [ln for ln in str(ev["output"]).splitlines() if ln.strip()]
    if not lines:
        fail(_("worker(7) printed nothing: it should print one line with 7 and its PID."))
    line = lines[0]
    if not _number(7).search(line):
        fail(
            _("worker(7) printed {line!r}, which does not contain the number 7.").format(line=line)
        )
    if not _number(ev["pid"]).search(line):
        fail(
            _(
                "worker(7) printed {line!r}, which does not contain the PID of the process"
                " running it ({pid}): use os.getpid()."
            ).format(line=line, pid=ev["pid"])
        )


def _returned_processes(ev: Mapping[str, Any], n: int) -> list[Mapping[str, Any]]:
    returned = ev["returned"]
    items = returned.get("items")
    if items is None:
        fail(
            _(
                "start_workers({n}) returned a {type}, not a list of the {n} process objects."
            ).format(n=n, type=returned.get("type"))
        )
    if len(items) != n:
        fail(
            _("start_workers({n}) returned {count} items instead of the {n} processes.").format(
                n=n, count=len(items)
            )
        )
    for item in items:
        if not item.get("process"):
            fail(
                _(
                    "start_workers returned a {type} where a multiprocessing Process object was"
                    " expected: return the process objects themselves."
                ).format(type=item.get("type"))
            )
    return list(items)


def ex1_start_workers(kit: Kit) -> None:
    """``start_workers(n)`` runs the default worker in n processes, all finished, exit code 0."""
    n = EX1_N
    ev = kit.run(
        "ex1_process",
        "ex1_start_workers",
        n,
        False,
        function="start_workers",
        needs=("start_workers", "worker"),
        timeout=kit.timeout_for(EX1_CALL_TIMEOUT),
    )
    procs = _returned_processes(ev, n)
    pids = [p["pid"] for p in procs]
    if ev["me"] in pids:
        fail(_("start_workers returned the test's own process: create new Process objects."))
    if len(set(pids)) != n or None in pids:
        fail(
            _(
                "start_workers({n}) did not run {n} different processes (PIDs {pids}): create"
                " one Process per worker and start each of them."
            ).format(n=n, pids=pids)
        )
    _check_finished_cleanly(kit, procs)
    lines = [ln for ln in kit.last.stdout.splitlines() if ln.strip()]
    for i, pid in enumerate(pids):
        if not any(_number(pid).search(ln) and _number(i).search(ln) for ln in lines):
            fail(
                _(
                    "no line printed by process {i} (pid {pid}) holds both its number {i} and"
                    " its PID; what was printed:\n{output}"
                ).format(i=i, pid=pid, output="\n".join(lines[:10]) or _("(nothing)"))
            )
    _check_leftovers(kit, "start_workers", ev["tracked"])


def _check_finished_cleanly(kit: Kit, procs: Sequence[Mapping[str, Any]]) -> None:
    """Fail unless every process start_workers returned was joined and exited with 0."""
    for i, proc in enumerate(procs):
        if proc["alive"]:
            fail(
                _(
                    "process {i} (pid {pid}) was still running when start_workers returned:"
                    " join every process before returning."
                ).format(i=i, pid=proc["pid"])
            )
        if proc["exitcode"] != 0:
            fail(
                diagnoses.process_failed(
                    _("process {i} (pid {pid})").format(i=i, pid=proc["pid"]),
                    proc["exitcode"],
                    kit.last.stderr,
                    str(proc.get("name") or ""),
                )
            )


def ex1_overlap(kit: Kit) -> None:
    """All n processes ran at the same time: each probe saw another one running."""
    n = EX1_N
    wait = probe_wait(kit)
    ev = kit.run(
        "ex1_process",
        "ex1_start_workers",
        n,
        True,
        wait,
        function="start_workers",
        # Serial code waits for a partner once: that wait on top of ex1's own limit.
        timeout=kit.timeout_for(EX1_CALL_TIMEOUT + wait),
    )
    procs = _returned_processes(ev, n)
    _check_finished_cleanly(kit, procs)
    records = {rec["num"]: rec for rec in ev["probe"]["records"] if "num" in rec}
    missing = [i for i in range(n) if i not in records]
    if missing:
        fail(
            _(
                "start_workers({n}, target=...) never called target({missing}): the i-th"
                " process must run target(i), as in Process(target=target, args=(i,))."
            ).format(n=n, missing=", ".join(map(str, missing)))
        )
    pids = [records[i]["pid"] for i in range(n)]
    if ev["me"] in pids:
        fail(
            _(
                "target ran in the test's own process, not in a new one: create a Process and"
                " start() it instead of calling the target directly."
            )
        )
    for i, proc in enumerate(procs):
        if proc["pid"] != records[i]["pid"]:
            fail(
                _(
                    "start_workers did not return the processes in order: the process at"
                    " index {i} is not the one that ran target({i})."
                ).format(i=i)
            )
    overlapped: dict[int, bool] = dict.fromkeys(range(n), False)
    for i, rec in records.items():
        for other in rec.get("running", []):
            j = int(str(other).lstrip("p"))
            if j in overlapped and i in overlapped:
                overlapped[i] = overlapped[j] = True
    alone = [i for i, seen in overlapped.items() if not seen]
    if len(alone) == n:
        fail(
            _(
                "the processes ran one after another, never at the same time: no process saw"
                " another one running. This is what a join() inside the loop that starts the"
                " processes does (start, join, start, join...). Start every process first, then"
                " join them all in a second loop."
            )
        )
    if alone:
        fail(
            _(
                "process {which} ran alone, while no other process was running: start every"
                " process before joining any of them."
            ).format(which=", ".join(map(str, alone)))
        )
    _check_leftovers(kit, "start_workers", ev["tracked"])


# -- ex2_pool ----------------------------------------------------------------------


def ex2_fib(kit: Kit) -> None:
    """``fib`` is the recursive Fibonacci."""
    values = [0, 1, 2, 10, 20]
    got = kit.run("ex2_pool", "ex2_fib", values, function="fib")
    expected = [0, 1, 1, 55, 6765]
    if got != expected:
        fail(
            _("fib gave {got} for {values}; expected {expected} (fib(0) = 0, fib(1) = 1).").format(
                got=got, values=values, expected=expected
            )
        )


def _pool_workers(tracked: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [p for p in tracked if p.get("role") != "manager"]


def ex2_parallel_map(kit: Kit) -> None:
    """Results in order, computed by at least two worker processes at the same time."""
    values, processes = EX2_VALUES, EX2_PROCESSES
    ev = kit.run(
        "ex2_pool", "ex2_parallel_map", values, processes, probe_wait(kit), function="parallel_map"
    )
    expected = [x * 3 + 1 for x in values]
    if ev["results"] != expected:
        fail(
            _(
                "parallel_map(func, {values}) returned {got}; expected {expected}: one result"
                " per value, in the order of the values (pool.map keeps the order)."
            ).format(values=values, got=ev["results"], expected=expected)
        )
    records = ev["probe"]["records"]
    pids = {rec["pid"] for rec in records}
    if pids and pids <= {ev["me"]}:
        fail(
            _(
                "parallel_map ran func in the calling process itself: nothing ran in parallel."
                " The built-in map (or a plain loop) does this; use a multiprocessing Pool and"
                " its map method."
            )
        )
    if len(pids) < 2:
        fail(
            ngettext(
                "parallel_map(func, values, processes={processes}) ran every task in {count}"
                " worker process: the work was not shared. Create the Pool with"
                " Pool(processes) so that several workers run tasks at once.",
                "parallel_map(func, values, processes={processes}) ran every task in {count}"
                " worker processes: the work was not shared. Create the Pool with"
                " Pool(processes) so that several workers run tasks at once.",
                len(pids),
            ).format(processes=processes, count=len(pids))
        )
    if "concurrent" not in ev["probe"]["flags"]:
        fail(
            _(
                "parallel_map used {count} worker processes, but one after another: no two tasks"
                " ran at the same time. Submit all the tasks at once (pool.map(func, values)),"
                " not one apply() or get() at a time."
            ).format(count=len(pids))
        )
    _check_leftovers(kit, "parallel_map", ev["tracked"])


def ex2_exception(kit: Kit) -> None:
    """An exception raised by func reaches the caller, and the pool is gone afterwards."""
    ev = kit.run(
        "ex2_pool", "ex2_exception", list(range(6)), EX2_PROCESSES, function="parallel_map"
    )
    raised = ev["raised"]
    if raised is None:
        fail(
            _(
                "func raised an exception for one value, but parallel_map returned normally"
                " ({results}): let the exception reach the caller (pool.map re-raises it);"
                " do not catch it and carry on."
            ).format(results=ev["results"])
        )
    if raised["type"] != "ProbeError" and "mpcheck probe failure" not in raised["message"]:
        fail(
            _(
                "func raised ProbeError for one value, but parallel_map raised {type}: {message}"
                " instead. Let the original exception reach the caller."
            ).format(type=raised["type"], message=raised["message"][:300])
        )
    _check_leftovers(kit, "parallel_map", ev["tracked"])


def ex2_parallel_fib(kit: Kit) -> None:
    """``parallel_fib`` gives the right numbers through a pool (no lambda, no nested def)."""
    values = [15, 16, 17, 18]
    ev = kit.run(
        "ex2_pool",
        "ex2_parallel_fib",
        values,
        EX2_PROCESSES,
        function="parallel_fib",
        needs=("parallel_fib", "parallel_map", "fib"),
    )
    expected = [610, 987, 1597, 2584]
    if ev["results"] != expected:
        fail(
            _("parallel_fib({values}) returned {got}; expected {expected}.").format(
                values=values, got=ev["results"], expected=expected
            )
        )
    if not _pool_workers(ev["tracked"]):
        fail(
            _(
                "parallel_fib computed the numbers without starting any worker process: use"
                " parallel_map (a Pool) rather than computing them here."
            )
        )
    _check_leftovers(kit, "parallel_fib", ev["tracked"])


# -- ex3_queue ---------------------------------------------------------------------


def ex3_producer(kit: Kit) -> None:
    """``producer`` puts every item in order, then exactly n_sentinels sentinels."""
    items = [1, 2, 3, "four", 5]
    ev = kit.run("ex3_queue", "ex3_producer", items, [1, 3], function="producer")
    if ev["sentinel"] != "None":
        fail(_("SENTINEL must be None, not {value}.").format(value=ev["sentinel"]))
    for run in ev["runs"]:
        n_sentinels = run["n_sentinels"]
        put = run["put"]
        body = [x for x in put if x is not None]
        sentinels = sum(1 for x in put if x is None)
        if body != items:
            fail(
                _(
                    "producer(q, {items}, {k}) put {body} (sentinels left out): put every item,"
                    " in order, exactly once."
                ).format(items=items, k=n_sentinels, body=body)
            )
        if sentinels == 0:
            fail(
                _(
                    "producer put no sentinel after the items: a consumer waiting in get() never"
                    " learns that the stream is over, so it waits forever. After the last item,"
                    " put SENTINEL once for each consumer (n_sentinels times)."
                )
            )
        if sentinels < n_sentinels:
            fail(
                _(
                    "producer(q, items, n_sentinels={k}) put only {got} sentinel(s): with {k}"
                    " consumers, {missing} of them never get a sentinel and wait in get()"
                    " forever. Put one sentinel per consumer: n_sentinels of them."
                ).format(k=n_sentinels, got=sentinels, missing=n_sentinels - sentinels)
            )
        if sentinels > n_sentinels:
            fail(
                _(
                    "producer(q, items, n_sentinels={k}) put {got} sentinels: put exactly"
                    " n_sentinels of them."
                ).format(k=n_sentinels, got=sentinels)
            )
        if put[: len(items)] != items:
            fail(
                _(
                    "producer put a sentinel before the last item ({put}): sentinels go after"
                    " every item."
                ).format(put=put)
            )


def ex3_consumer(kit: Kit) -> None:
    """``consumer`` forwards items in order and returns right after its sentinel."""
    items, after = [10, 20, 30], ["after-1", "after-2"]
    ev = kit.run("ex3_queue", "ex3_consumer", items, after, function="consumer")
    if ev["error"] is not None:
        err = ev["error"]
        fail(
            _("consumer raised {error}:\n{traceback}").format(
                error=f"{err['type']}: {err['message']}", traceback=err["traceback"][-2000:]
            )
        )
    forwarded, left = ev["forwarded"], ev["left"]
    if any(x in after for x in forwarded) or left != after:
        fail(
            _(
                "consumer took items after its sentinel ({taken}): it must return right after"
                " taking the sentinel, leaving the rest for the other consumers."
            ).format(taken=[x for x in after if x not in left])
        )
    if None in forwarded:
        fail(
            _(
                "consumer forwarded the sentinel to out_q: the sentinel only tells the consumer"
                " to stop; do not pass it on."
            )
        )
    if not ev["returned"]:
        fail(
            _(
                "consumer did not return after taking its sentinel: check `if item is SENTINEL:"
                " return` (or break) right after each get()."
            )
        )
    if forwarded != items:
        fail(
            _(
                "consumer forwarded {got} to out_q; expected {items}: every item taken before"
                " the sentinel, in the order taken."
            ).format(got=forwarded, items=items)
        )


def ex3_shutdown(kit: Kit) -> None:
    """Producer and consumers in real processes end on their sentinels (the plugin's check)."""
    report = kit.run(
        "ex3_queue",
        "ex3_shutdown",
        EX3_ITEMS,
        2,
        max(3.0, kit.timeout * 0.4),
        function="producer and consumer",
        needs=("producer", "consumer"),
    )
    if report.problems:
        # The first line is what the progress table and `Next:` show: make it the first
        # problem itself, not the report's heading ("sentinel check under fork (...):").
        heading, _sep, rest = str(report.message).partition("\n")
        first = f"- {report.problems[0]}"
        rest = "\n".join(line for line in rest.splitlines() if line != first)
        fail(f"{report.problems[0]}\n{heading}\n{rest}")


def _caller_stack(caller: Sequence[Mapping[str, Any]]) -> str:
    """run_pipeline's own stack (its code and the call it waits in), as text."""
    first = next((i for i, f in enumerate(caller) if f.get("learner")), None)
    if first is None:
        return ""
    lines = [_("Where run_pipeline itself was waiting (most recent call last):")]
    for frame in caller[first:]:
        lines.append(
            f'  File "{frame["file"]}", line {frame["line"]}, in {frame["function"]}'
            + (f"\n    {frame['code']}" if frame.get("code") and frame.get("learner") else "")
        )
    return "\n".join(lines)


def _roles(procs: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{p['role']} (pid {p['pid']})" for p in procs)


def _pipeline_hang(kit: Kit, ev: Mapping[str, Any], n_consumers: int, deadline: float) -> str:
    """Explain a run_pipeline that did not return: which process waited for what."""
    procs = ev.get("processes", [])
    caller = ev.get("caller", [])
    learner_frames = [f for f in caller if f.get("learner")]
    where = learner_frames[-1] if learner_frames else None
    where_text = (
        _("run_pipeline was waiting at line {line} ({code})").format(
            line=where["line"], code=where["code"]
        )
        if where
        else _("run_pipeline was waiting in {call}").format(
            call=caller[-1]["function"] if caller else "?"
        )
    )
    stacks = str(ev.get("stacks") or "").strip()
    own = _caller_stack(caller)
    tail = "".join("\n" + part for part in (own, stacks) if part)
    in_join = ev.get("caller_call") == "join"
    in_get = ev.get("caller_call") == "get"
    flushing = [p for p in procs if p.get("alive") and (p.get("stack") or {}).get("flushing")]
    consumers = [p for p in procs if p.get("role") == "consumer"]
    waiting_consumers = [p for p in consumers if p.get("alive")]
    producers = [p for p in procs if p.get("role") == "producer"]
    producer_done = bool(producers) and all(not p.get("alive") for p in producers)
    if flushing and in_join:
        return (
            ngettext(
                "run_pipeline deadlocked: it joined before draining a queue. {where}, while"
                " {roles} had finished its work but could not exit: a process that put items"
                " on a queue exits only after they have been taken out. Take every result off"
                " the output queue first (one get() per item), then join the processes.",
                "run_pipeline deadlocked: it joined before draining a queue. {where}, while"
                " {roles} had finished their work but could not exit: a process that put items"
                " on a queue exits only after they have been taken out. Take every result off"
                " the output queue first (one get() per item), then join the processes.",
                len(flushing),
            ).format(where=where_text, roles=_roles(flushing))
            + tail
        )
    if consumers and not waiting_consumers and not in_join:
        # Every consumer has exited, yet results are missing: they stopped before the
        # end of the stream, and what the producer put after that is stuck in the queue.
        text = ngettext(
            "run_pipeline never got all its results: {roles} had already exited before"
            " taking every item and its sentinel, so the items put after that are stuck in"
            " the queue, and nothing will ever forward them. {where}.",
            "run_pipeline never got all its results: {roles} had already exited before"
            " taking every item and their sentinels, so the items put after that are stuck"
            " in the queue, and nothing will ever forward them. {where}.",
            len(consumers),
        ).format(roles=_roles(consumers), where=where_text)
        if ev.get("consumer_uses_empty"):
            text += " " + _(
                "Your consumer stops when q.empty() is true: that is not a reliable end"
                " signal (the queue is empty whenever the producer has not put the next item"
                " yet). Loop until you take the sentinel: item = q.get(); if item is"
                " SENTINEL: return."
            )
        else:
            text += " " + _(
                "A consumer must keep taking items until it takes its sentinel, and only"
                " then return."
            )
        return text + tail
    if waiting_consumers and producer_done:
        if len(waiting_consumers) < len(consumers):
            return (
                _(
                    "{waiting} of {total} consumers were still waiting in get() after the"
                    " producer had finished: fewer sentinels than consumers. Each consumer stops"
                    " at the first sentinel it takes, so put one sentinel per consumer"
                    " (producer(q, items, n_consumers))."
                ).format(waiting=len(waiting_consumers), total=len(consumers))
                + "\n"
                + where_text
                + "."
                + tail
            )
        return (
            _(
                "every consumer was still waiting in get() after the producer had finished:"
                " no sentinel reached them. Put one sentinel per consumer after the last item"
                " (producer(q, items, n_consumers)), and let each consumer stop at its"
                " sentinel."
            )
            + "\n"
            + where_text
            + "."
            + tail
        )
    if flushing:
        return (
            ngettext(
                "run_pipeline was stuck: {roles} had finished its work but could not exit,"
                " because items it put on a queue were never taken out. {where}. Take every"
                " item and result off the queues (one get() per item) before joining.",
                "run_pipeline was stuck: {roles} had finished their work but could not exit,"
                " because items they put on a queue were never taken out. {where}. Take every"
                " item and result off the queues (one get() per item) before joining.",
                len(flushing),
            ).format(roles=_roles(flushing), where=where_text)
            + tail
        )
    elapsed = float(ev.get("elapsed") or deadline)
    if in_get:
        explanation = _(
            "It waited in get() for a result that no process was going to put: take exactly"
            " one result per item, and check that every consumer forwards every item it takes."
        )
    elif in_join:
        explanation = _(
            "It waited in join() for a process that does not end: check that every process"
            " it joins can finish (each consumer gets its sentinel, every queue is drained)."
        )
    else:
        explanation = _(
            "Where each process was is shown below: look for a loop that never ends or a"
            " get() or join() that waits forever."
        )
    return (
        _(
            "run_pipeline(items, n_consumers={n}) had not returned after {deadline:.0f} s."
            " {where}. {explanation}"
        ).format(n=n_consumers, deadline=elapsed, where=where_text, explanation=explanation)
        + tail
    )


def _pipeline(kit: Kit, kind: str, count: int, n_consumers: int) -> Mapping[str, Any]:
    deadline = max(3.0, kit.timeout * 0.5)
    ev: Mapping[str, Any] = kit.run(
        "ex3_queue",
        "ex3_pipeline",
        kind,
        count,
        n_consumers,
        deadline,
        function="run_pipeline",
        needs=("run_pipeline", "producer", "consumer"),
    )
    if not ev["finished"]:
        fail(_pipeline_hang(kit, ev, n_consumers, deadline))
    if ev.get("type") != "list":
        fail(
            _("run_pipeline returned a {type}, not a list of the items consumed.").format(
                type=ev.get("type")
            )
        )
    call = _("run_pipeline({count} items, n_consumers={n})").format(count=count, n=n_consumers)
    if ev["none_items"]:
        fail(
            _(
                "{call} returned {k} sentinel(s) among the items: consumers must not forward"
                " the sentinel."
            ).format(call=call, k=ev["none_items"])
        )
    if ev["missing"] or ev["duplicates"] or ev["unexpected"] or ev["count"] != count:
        fail(
            _(
                "{call} returned {got} items: {missing} missing, {dup} taken more than once,"
                " {unexpected} that were never put. Every item must come back exactly once:"
                " take one result per item from the output queue."
            ).format(
                call=call,
                got=ev["count"],
                missing=ev["missing"],
                dup=ev["duplicates"],
                unexpected=ev["unexpected"],
            )
        )
    _check_started(ev["tracked"], n_consumers)
    _check_exitcodes(kit, ev["tracked"], {"producer", "consumer", "process"})
    _check_leftovers(kit, "run_pipeline", ev["tracked"])
    return ev


def _check_started(tracked: Sequence[Mapping[str, Any]], n_consumers: int) -> None:
    """The contract: one producer and ``n_consumers`` consumers, each in a process started here.

    The right items alone prove nothing (``return list(items)`` has them), so the
    processes the call started (recorded by the scenario's wrapper on
    ``BaseProcess.start``) are the evidence. Their targets may have other names
    (a helper of the learner's), so only the number is required.
    """
    started = [p for p in tracked if p.get("role") not in ("manager", "pool worker")]
    if len(started) >= 1 + n_consumers:
        return
    roles = ", ".join(f"{p.get('role')} (pid {p.get('pid')})" for p in started) or _("none")
    fail(
        ngettext(
            "run_pipeline returned the items without starting a producer and consumer"
            " processes: it started {count} process ({which}), where one producer process and"
            " {n} consumer process(es) were expected. Start a Process for producer(q, items,"
            " n_consumers) and one per consumer(q, out_q), connected by queues.",
            "run_pipeline returned the items without starting a producer and consumer"
            " processes: it started {count} processes ({which}), where one producer process"
            " and {n} consumer process(es) were expected. Start a Process for producer(q,"
            " items, n_consumers) and one per consumer(q, out_q), connected by queues.",
            len(started),
        ).format(count=len(started), which=roles, n=n_consumers)
    )


def ex3_pipeline_order(kit: Kit) -> None:
    """With one consumer, every item comes back once, in the original order."""
    ev = _pipeline(kit, "ints", EX3_ITEMS, 1)
    if not ev["in_order"]:
        fail(
            _(
                "run_pipeline(items, n_consumers=1) returned the items out of order (first"
                " ones: {sample}): with one consumer a queue keeps them first in, first out."
            ).format(sample=ev["sample"])
        )


def ex3_pipeline_consumers(kit: Kit) -> None:
    """With several consumers, each gets its sentinel and every item comes back once."""
    _pipeline(kit, "ints", EX3_ITEMS, EX3_CONSUMERS)


def ex3_pipeline_big(kit: Kit) -> None:
    """20,000 items of 1 KiB go through without a deadlock."""
    _pipeline(kit, "kib", EX3_BIG_ITEMS, 2)


# -- ex4_manager -------------------------------------------------------------------


def ex4_worker(kit: Kit) -> None:
    """``worker(d, l, key, value)`` sets the key, then appends it."""
    ev = kit.run("ex4_manager", "ex4_worker", function="worker")
    if ev["d"] != {"k": 42} or ev["l"] != ["k"]:
        fail(
            _(
                "worker(d, l, 'k', 42) left d = {d} and l = {l}; expected d = {{'k': 42}} and"
                " l = ['k']."
            ).format(d=ev["d"], l=ev["l"])
        )


def _collect(kit: Kit) -> Mapping[str, Any]:
    ev: Mapping[str, Any] = kit.run(
        "ex4_manager",
        "ex4_collect",
        EX4_N,
        function="collect",
        needs=("collect", "worker"),
        cache=True,
    )
    if "d_type" not in ev:
        fail(
            _("collect(n) returned a {type}; it must return a tuple (dict, list).").format(
                type=ev["type"]
            )
        )
    for which in ("d", "l"):
        error = ev.get(f"{which}_error")
        if error is not None:
            fail(
                _(
                    "collect returned manager proxies ({type}) rather than plain copies, and"
                    " they stopped working when the manager shut down ({error}). Copy them"
                    " with dict(d) and list(l) inside the with Manager() block, and return"
                    " the copies."
                ).format(
                    type=ev[f"{which}_type"], error=f"{error['type']}: {error['message'][:200]}"
                )
            )
    return ev


def ex4_collect(kit: Kit) -> None:
    """``collect(n)`` returns every key's value and every key, written by the workers."""
    n = EX4_N
    ev = _collect(kit)
    expected = {i: i * 10 for i in range(n)}
    d, l = ev["d"], ev["l"]  # noqa: E741
    manager_used = any(p.get("role") == "manager" for p in ev["tracked"])
    if not d and not l and not manager_used:
        fail(
            _(
                "collect({n}) returned an empty dict and list: each process changed its own copy"
                " of a plain dict and list, and those copies vanished with it. Create them with"
                " a Manager (manager.dict(), manager.list()) so every process works on the same"
                " data."
            ).format(n=n)
        )
    if d != expected:
        fail(
            _("collect({n}) returned the dict {d}; expected {expected}.").format(
                n=n, d=d, expected=expected
            )
        )
    if not isinstance(l, list) or sorted(l, key=repr) != sorted(range(n), key=repr):
        fail(
            _(
                "collect({n}) returned the list {l}; expected each key 0..{last} once (in any"
                " order)."
            ).format(n=n, l=l, last=n - 1)
        )


def ex4_plain_copies(kit: Kit) -> None:
    """``collect`` returns a plain dict and list, and its manager process is gone."""
    ev = _collect(kit)
    if not ev["d_plain"] or not ev["l_plain"]:
        fail(
            _(
                "collect returned {d_type} and {l_type}: return plain copies, dict(d) and"
                " list(l), made before the manager shuts down."
            ).format(d_type=ev["d_type"], l_type=ev["l_type"])
        )
    managers = [p for p in ev["tracked"] if p.get("role") == "manager" and p.get("alive")]
    if managers:
        fail(
            _(
                "the manager's process (pid {pid}) was still running after collect returned:"
                " use the manager in a with block (with Manager() as manager: ...) or call"
                " manager.shutdown()."
            ).format(pid=managers[0]["pid"])
        )
    _check_leftovers(kit, "collect", ev["tracked"])


# -- ex5_speedup -------------------------------------------------------------------


def _heavy(x: int, n: int) -> int:
    return x * n * (n - 1) // 2


def ex5_results(kit: Kit) -> None:
    """``heavy``, ``run_serial`` and ``run_parallel`` agree, computed by a pool's workers."""
    data, n = EX5_DATA, EX5_N
    ev = kit.run(
        "ex5_speedup",
        "ex5_results",
        data,
        2,
        n,
        function="run_parallel",
        needs=("heavy", "run_serial", "run_parallel"),
    )
    if ev["heavy"] != _heavy(3, 1000):
        fail(
            _(
                "heavy(3, 1000) returned {got}; expected {expected}"
                " (sum(i * 3 for i in range(1000)))."
            ).format(got=ev["heavy"], expected=_heavy(3, 1000))
        )
    expected = [_heavy(x, n) for x in data]
    if ev["serial"] != expected:
        fail(
            _("run_serial({data}, n={n}) returned {got}; expected {expected}.").format(
                data=data, n=n, got=ev["serial"], expected=expected
            )
        )
    if ev["parallel"] != ev["serial"]:
        fail(
            _(
                "run_parallel({data}, n={n}) returned {got}, but run_serial returned {expected}:"
                " both must give the same results, in the same order."
            ).format(data=data, n=n, got=ev["parallel"], expected=ev["serial"])
        )
    workers = _pool_workers(ev["tracked"])
    if len(workers) < 2:
        fail(
            ngettext(
                "run_parallel(data, processes=2) started {count} worker process: use a Pool of"
                " `processes` workers so the work is shared.",
                "run_parallel(data, processes=2) started {count} worker processes: use a Pool"
                " of `processes` workers so the work is shared.",
                len(workers),
            ).format(count=len(workers))
        )
    _check_leftovers(kit, "run_parallel", ev["tracked"])


def ex5_compare(kit: Kit) -> None:
    """``compare`` returns positive timings and a speedup consistent with them."""
    ev = kit.run(
        "ex5_speedup",
        "ex5_compare",
        [1, 2],
        2,
        EX5_N,
        1,
        function="compare",
        needs=("compare", "run_serial", "run_parallel", "heavy"),
    )
    figures = ev["figures"]
    keys = ("serial_s", "parallel_s", "speedup")
    if not isinstance(figures, dict) or any(k not in figures for k in keys):
        fail(
            _(
                "compare returned {got}; expected a dict with the keys serial_s, parallel_s and"
                " speedup."
            ).format(got=figures)
        )
    for key in keys:
        value = figures[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            fail(
                _(
                    "compare()[{key!r}] is {value!r}: it must be a positive number of seconds."
                ).format(key=key, value=value)
            )
        if not math.isfinite(value):
            fail(_("compare()[{key!r}] is {value!r}.").format(key=key, value=value))
    ratio = figures["serial_s"] / figures["parallel_s"]
    if not math.isclose(figures["speedup"], ratio, rel_tol=1e-3, abs_tol=0.005):
        fail(
            _(
                "compare() says speedup = {speedup!r}, but serial_s / parallel_s = {ratio:.4g}:"
                " compute speedup as serial_s / parallel_s."
            ).format(speedup=figures["speedup"], ratio=ratio)
        )
    _check_leftovers(kit, "compare", ev["tracked"])


def ex5_speedup(kit: Kit) -> None:
    """``run_parallel`` really runs in parallel and is faster (the plugin's speedup verdict).

    The points do not depend on how busy the grading machine is: a pass by timing
    earns them, and so does a verdict that timing cannot settle when the evidence
    shows the work shared among processes that ran at once, done once, and timing
    does not contradict it (``credible_parallel``); a note in the report says so.
    Evidence that is neither parallel nor serial is measured once more (both
    measurements judged together), then skipped. Under fork, parallel work that used
    1.8 times the serial version's CPU time or more (done twice) fails.
    """
    import dataclasses

    from pytest_mpcheck.speedup.measure import DEFAULT_BUDGET
    from pytest_mpcheck.speedup.verdict import CANNOT_JUDGE, PASS, REDONE_WORK_RATIO, judge

    settings = dict(kit.speedup)
    budget = float(settings.get("budget") or DEFAULT_BUDGET)

    def measure() -> Any:
        return kit.run(
            "ex5_speedup",
            "ex5_speedup",
            EX5_DATA,
            2,
            EX5_SPEEDUP_N,
            settings,
            function="run_parallel",
            needs=("heavy", "run_serial", "run_parallel"),
            # The budget, plus the wait for the machine-wide timing lock, plus start-up.
            timeout=max(kit.timeout, budget * 3 + float(settings.get("lock_timeout") or 0.0)),
        )

    measurement = measure()
    verdict = judge(measurement, min_speedup=settings.get("min_speedup"))
    unsettled = (
        verdict.kind == CANNOT_JUDGE
        and measurement.not_measured is None
        and not verdict.parallel_evidence
    )
    if unsettled:
        again = measure()
        if again.not_measured is None:
            # Judged together: the second measurement adds to the evidence of the first.
            measurement = dataclasses.replace(
                again,
                rounds=measurement.rounds + again.rounds,
                elapsed=measurement.elapsed + again.elapsed,
            )
            verdict = judge(measurement, min_speedup=settings.get("min_speedup"))
    if verdict.kind == PASS:
        return
    redone = (
        # Under fork, starting workers costs next to no CPU time: a parallel version
        # that used this much more than the serial one did the work more than once.
        kit.start_method == "fork"
        and verdict.parallel_evidence
        and verdict.work_ratio is not None
        and verdict.work_ratio >= REDONE_WORK_RATIO
    )
    if redone:
        fail(
            _(
                "run_parallel did the work more than once: its processes were busy at the same"
                " time, but together they used {ratio:.1f} times the CPU time run_serial needs,"
                " and the speedup was {speedup:.2f}. Does every worker redo all the work? Give"
                " each worker its share of the tasks (pool.map(func, data)).\n{figures}"
            ).format(ratio=verdict.work_ratio, speedup=verdict.speedup, figures=verdict.figures())
        )
    if verdict.kind != CANNOT_JUDGE:
        fail(
            _("run_parallel is not faster than run_serial: {verdict}").format(
                verdict=verdict.report()
            )
        )
    if verdict.credible_parallel:
        kit.note(
            _(
                "Points given on the evidence: run_parallel ran in several processes at once"
                " and did the work once, but its speedup could not be judged on this"
                " machine now.\n{verdict}"
            ).format(verdict=verdict.report())
        )
        return
    pytest.skip(verdict.report())
