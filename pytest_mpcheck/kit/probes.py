"""Probe functions the kit hands to a learner's code in place of the real work.

A probe is a top-level function (so it pickles by name under ``spawn`` and
``forkserver``) that leaves evidence in ``$MPCHECK_PROBE_DIR``: marker files
written when it starts and ends, from which the kit tells, without trusting
any clock, whether processes really ran at the same time:

- a probe writes ``start-<key>-<pid>`` when it starts and ``done-<key>-<pid>``
  (holding a JSON record of what it saw) when it ends;
- while it runs it looks at the directory: another process's ``start`` file
  without its ``done`` file means that process is running *now*, at the same
  time as this one;
- it waits (at most :data:`WAIT_S`) for the partners it expects, so correct
  code never waits long, and code that runs one process after another leaves
  a record of a probe that never saw anyone.

Keep this module's imports light: every process that runs a probe under
``spawn`` imports it. Clock and file functions are captured at import time, so
learner code that patches :mod:`time` or :mod:`os` afterwards cannot bend the
evidence.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

__all__ = [
    "WAIT_S",
    "ProbeError",
    "ex1_target",
    "ex2_fail",
    "ex2_task",
    "read_records",
    "write_config",
]

# Captured before any learner code runs in this process.
_monotonic = time.monotonic
_sleep = time.sleep
_getpid = os.getpid
_getppid = os.getppid
_listdir = os.listdir
_replace = os.replace
_environ = os.environ

#: Longest a probe waits for the partner it expects (seconds), unless the scenario's
#: config says otherwise (``wait``). Correct code has every partner running within
#: milliseconds; only serial code waits this long, and only once (see the flags).
WAIT_S = 5.0
#: Once one probe has waited in vain (a ``serial`` flag), the others wait this long.
SHORT_WAIT_S = 0.3
_POLL_S = 0.005
_CONFIG = "probe-config.json"


class ProbeError(Exception):
    """The error :func:`ex2_fail` raises, so the kit can recognise it at the caller."""


def _dir() -> str:
    return _environ["MPCHECK_PROBE_DIR"]


def _write(name: str, text: str = "") -> None:
    """Write a marker file atomically (a reader never sees half of it)."""
    directory = _dir()
    # A temporary name of this process's own: two probes may write the same flag at once.
    tmp = os.path.join(directory, f".tmp-{_getpid()}-{name}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    _replace(tmp, os.path.join(directory, name))


def write_config(**config: Any) -> None:
    """Tell the probes what to expect (called by the scenario before the learner's code)."""
    _write(_CONFIG, json.dumps(config))


def _config() -> dict[str, Any]:
    try:
        with open(os.path.join(_dir(), _CONFIG), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _markers() -> tuple[dict[str, int], set[str], set[str]]:
    """Return ``(started key -> pid, done keys, flags)`` from the probe directory."""
    started: dict[str, int] = {}
    done: set[str] = set()
    flags: set[str] = set()
    for name in _listdir(_dir()):
        kind, _sep, rest = name.partition("-")
        if kind in ("start", "done"):
            key, _sep, pid = rest.rpartition("-")
            if not pid.isdigit():
                continue
            if kind == "start":
                started[key] = int(pid)
            else:
                done.add(key)
        elif kind == "flag":
            flags.add(rest)
    return started, done, flags


def ex1_target(num: int) -> None:
    """A ``target`` for ``start_workers``: records which other processes ran beside it.

    It waits until it has seen every other process of the call start (their
    number comes from the scenario's config), or :data:`WAIT_S` at most.
    """
    key = f"p{int(num)}"
    pid = _getpid()
    config = _config()
    expected = int(config.get("n", 1)) - 1
    wait = float(config.get("wait", WAIT_S))
    _write(f"start-{key}-{pid}")
    began = _monotonic()
    running: set[str] = set()
    seen: set[str] = set()
    waited_in_vain = False
    while True:
        started, done, flags = _markers()
        for other, other_pid in started.items():
            if other != key and other_pid != pid:
                seen.add(other)
                if other not in done:
                    running.add(other)
        if len(seen) >= expected:
            break
        limit = SHORT_WAIT_S if "serial" in flags else wait
        if _monotonic() - began > limit:
            waited_in_vain = not running
            break
        _sleep(_POLL_S)
    if waited_in_vain:
        _write("flag-serial")
    record = {
        "num": int(num),
        "pid": pid,
        "ppid": _getppid(),
        "running": sorted(running),
        "seen": sorted(seen),
    }
    _write(f"done-{key}-{pid}", json.dumps(record))


def ex2_task(x: int) -> int:
    """A ``func`` for ``parallel_map``: records its pid and whether another worker was busy.

    Returns ``x * 3 + 1`` so the kit can check the results and their order.
    The first task to see a task of another process running sets a
    ``concurrent`` flag; after that (or after one task waited :data:`WAIT_S` in
    vain) no task waits any more.
    """
    key = f"t{int(x)}"
    pid = _getpid()
    wait = float(_config().get("wait", WAIT_S))
    _write(f"start-{key}-{pid}")
    began = _monotonic()
    running: set[int] = set()
    while True:
        started, done, flags = _markers()
        if "concurrent" in flags or "serial" in flags:
            break
        running = {p for k, p in started.items() if p != pid and k not in done}
        if running:
            _write("flag-concurrent", json.dumps({"pid": pid, "others": sorted(running)}))
            break
        if _monotonic() - began > wait:
            _write("flag-serial")
            break
        _sleep(_POLL_S)
    _write(f"done-{key}-{pid}", json.dumps({"x": int(x), "pid": pid, "running": sorted(running)}))
    return int(x) * 3 + 1


def ex2_fail(x: int) -> int:
    """A ``func`` for ``parallel_map`` that raises :class:`ProbeError` for ``x == 3``."""
    if x == 3:
        raise ProbeError(f"mpcheck probe failure for value {x}")
    return int(x) * 3 + 1


def read_records() -> dict[str, Any]:
    """Return what the probes left: ``records`` (from ``done`` files), ``started``, ``flags``."""
    started, _done, flags = _markers()
    records = []
    for name in sorted(_listdir(_dir())):
        if name.startswith("done-"):
            try:
                with open(os.path.join(_dir(), name), encoding="utf-8") as fh:
                    records.append(json.loads(fh.read() or "{}"))
            except (OSError, ValueError):
                continue
    return {"records": records, "started": started, "flags": sorted(flags)}
