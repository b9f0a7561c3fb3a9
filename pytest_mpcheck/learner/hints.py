"""``mpcheck hint EXERCISE``: graduated hints, one more each time it is asked for.

Each exercise has three hints: a nudge (a question that points at the idea), the
rule (what makes the pattern correct), and the shape of the code (a skeleton
with the learner's part left as ``...``). None is the full solution. How many
hints of each exercise were shown lives in ``.mpcheck/hints.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pytest_mpcheck.i18n import N_, _
from pytest_mpcheck.learner.progress import (
    EXERCISES,
    ProgressFileError,
    read_last_run,
    resolve_exercise,
    state_dir,
    write_json_atomically,
)
from pytest_mpcheck.learner.status import next_exercise
from pytest_mpcheck.learner.text import wrap

__all__ = [
    "HINTS",
    "hint_command",
    "hints_path",
    "hints_text",
    "read_hint_levels",
    "write_hint_levels",
]

# Module constants are marked with N_ and translated with _() when shown, so the
# language chosen at run time applies.
HINTS: dict[str, tuple[str, str, str]] = {
    "ex1_process": (
        N_(
            "Starting a process and waiting for it are two separate steps. If you wait for "
            "each worker right after starting it, how many workers are ever running at once?"
        ),
        N_(
            "Start all n processes first, and only then join them all, in a second loop. "
            "A join() inside the start loop waits for each worker before the next one starts, "
            "so nothing runs in parallel. Give each process its number with args=(i,): a "
            "one-item tuple, note the comma. Pass target through, so the tests can give "
            "their own."
        ),
        N_(
            "The shape of start_workers:\n"
            "\n"
            "    processes = []\n"
            "    for i in range(n):\n"
            "        p = multiprocessing.Process(target=..., args=...)\n"
            "        ...              # start it and keep it in the list\n"
            "    for p in processes:\n"
            "        ...              # wait for it\n"
            "    return processes\n"
            "\n"
            "worker only prints one line with num and os.getpid()."
        ),
    ),
    "ex2_pool": (
        N_(
            "multiprocessing.Pool already knows how to hand values to worker processes and "
            "collect the results in order. Which of its methods works like the built-in map?"
        ),
        N_(
            "Create the pool in a with block and call pool.map(func, values) inside it: the "
            "results come back in input order, and an exception raised in a worker is raised "
            "again in the caller. Before leaving the block, close() the pool and join() it, so "
            "that no worker is alive when parallel_map returns. func must be a top-level "
            "function: a lambda or a nested function cannot be sent to a spawn worker."
        ),
        N_(
            "The shape of parallel_map:\n"
            "\n"
            "    with multiprocessing.Pool(processes=...) as pool:\n"
            "        results = ...    # one call that maps func over values\n"
            "        pool.close()\n"
            "        ...              # wait for the workers to exit\n"
            "    return results\n"
            "\n"
            "parallel_fib is a single call of parallel_map with fib."
        ),
    ),
    "ex3_queue": (
        N_(
            "A consumer blocked in q.get() cannot tell a slow producer from one that has "
            "finished. What could the producer put on the queue to say: there is nothing more?"
        ),
        N_(
            "After its last item the producer puts one SENTINEL per consumer: each consumer "
            "stops at the first sentinel it takes, so one sentinel stops one consumer. Compare "
            "with `item is SENTINEL`, never forward the sentinel, and return right after it. "
            "In run_pipeline, take all len(items) results from the output queue before you "
            "join any process: a process that has put many items on a queue cannot exit "
            "until they are taken, so joining first waits forever."
        ),
        N_(
            "The shape of consumer and run_pipeline:\n"
            "\n"
            "    def consumer(q, out_q):\n"
            "        while True:\n"
            "            item = q.get()\n"
            "            if item is SENTINEL:\n"
            "                ...\n"
            "            ...\n"
            "\n"
            "    def run_pipeline(items, n_consumers=1):\n"
            "        q, out_q = multiprocessing.Queue(), multiprocessing.Queue()\n"
            "        # start one producer (n_sentinels=n_consumers) and n_consumers consumers\n"
            "        results = ...    # take len(items) results from out_q, before any join\n"
            "        # then join every process\n"
            "        return results"
        ),
    ),
    "ex4_manager": (
        N_(
            "A child process gets a copy of a plain dict, so what it writes stays in the "
            "child. Which part of multiprocessing keeps one dict that every process can reach?"
        ),
        N_(
            "Start a Manager in a with block and make d = manager.dict() and "
            "l = manager.list(): they are proxies to objects that live in the manager's "
            "process, so every worker changes the same ones. Join the workers, then copy the "
            "proxies into a plain dict and list while the manager still runs: a proxy stops "
            "working once the manager shuts down at the end of the block."
        ),
        N_(
            "The shape of collect:\n"
            "\n"
            "    with multiprocessing.Manager() as manager:\n"
            "        d, l = manager.dict(), manager.list()\n"
            "        # start n processes, the i-th running worker(d, l, i, i * 10)\n"
            "        # join them all\n"
            "        result = (..., ...)      # plain copies, made inside the block\n"
            "    return result"
        ),
    ),
    "ex5_speedup": (
        N_(
            "heavy is plain CPU work, so two processes can do twice as much of it as one. "
            "How do you hand heavy to a Pool when it needs the extra argument n?"
        ),
        N_(
            "run_parallel maps heavy over data with a Pool of `processes` workers; to fix "
            "n, use functools.partial(heavy, n=n), which can be pickled (a lambda cannot). "
            "compare times each version repeat times with time.perf_counter() taken just "
            "before and after the call, keeps the best (smallest) time of each, and reports "
            "speedup = serial_s / parallel_s."
        ),
        N_(
            "The shape of compare:\n"
            "\n"
            "    def best_time(function, *args):\n"
            "        times = []\n"
            "        for _ in range(repeat):\n"
            "            start = time.perf_counter()\n"
            "            ...                  # call it\n"
            "            times.append(...)\n"
            "        return min(times)\n"
            "\n"
            "    serial_s = best_time(run_serial, data, n)\n"
            "    parallel_s = ...\n"
            '    return {"serial_s": ..., "parallel_s": ..., "speedup": ...}'
        ),
    ),
}


def hints_path(root: Path) -> Path:
    """Return ``root/.mpcheck/hints.json``."""
    return state_dir(root) / "hints.json"


def read_hint_levels(root: Path) -> dict[str, int]:
    """Return how many hints of each exercise were shown (a damaged file counts as none)."""
    try:
        data = json.loads(hints_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    shown = data.get("shown", {}) if isinstance(data, dict) else {}
    if not isinstance(shown, dict):
        return {}
    levels: dict[str, int] = {}
    for name, value in shown.items():
        if name in HINTS and isinstance(value, int) and value > 0:
            levels[name] = min(value, len(HINTS[name]))
    return levels


def write_hint_levels(root: Path, levels: dict[str, int]) -> None:
    """Record how many hints of each exercise were shown."""
    write_json_atomically(hints_path(root), {"schema": 1, "shown": dict(sorted(levels.items()))})


def _default_exercise(root: Path) -> str:
    """The exercise to hint at when none is named: the next one to do."""
    try:
        run = read_last_run(root)
    except ProgressFileError:
        run = None
    return next_exercise(run) or EXERCISES[0]


def _render(name: str, level: int) -> str:
    total = len(HINTS[name])
    title = (N_("A nudge"), N_("The rule"), N_("The shape of the code"))[level - 1]
    header = _("Hint {level} of {total} for {exercise}: {title}").format(
        level=level, total=total, exercise=name, title=_(title)
    )
    body = wrap(_(HINTS[name][level - 1]), indent="  ")
    return f"{header}\n\n{body}"


def hints_text(root: Path, name: str, *, again: bool = False, command: bool = True) -> str:
    """Advance ``name`` to its next hint and return the text to show.

    With ``again``, return every hint given so far instead, without a new one.
    ``command`` says whether to tell the learner to run ``mpcheck hint`` again
    (``mpcheck watch`` has a key for it instead).
    """
    levels = read_hint_levels(root)
    total = len(HINTS[name])
    before = levels.get(name, 0)
    level = max(before, 1) if again else min(before + 1, total)
    if level != before:
        levels[name] = level
        write_hint_levels(root, levels)
    shown = range(1, level + 1) if again else [level]
    parts = [_render(name, n) for n in shown]
    if level < total:
        if command:
            number = name.split("_")[0]
            parts.append(
                _("Ask again for the next hint: mpcheck hint {number}").format(number=number)
            )
    else:
        parts.append(
            wrap(
                _(
                    "That was the last hint for {exercise}. The docstring at the top of {path} "
                    "explains the pattern, and the failing test's message says what is still wrong."
                ).format(exercise=name, path=Path("exercises", f"{name}.py"))
            )
        )
    return "\n\n".join(parts)


def hint_command(args: argparse.Namespace) -> int:
    """Show the next hint of ``args.exercise`` (or all shown so far with ``--all``)."""
    root: Path = args.root
    if args.exercise:
        try:
            name = resolve_exercise(args.exercise)
        except ValueError as exc:
            print(exc)
            return 2
    else:
        name = _default_exercise(root)
    print(hints_text(root, name, again=args.all))
    return 0
