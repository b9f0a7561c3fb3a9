"""The clocks the speedup verdict trusts, captured when this module is imported.

``pytest_mpcheck`` imports this module (through its public API) when pytest loads
the plugin, and a sandbox child imports it before the learner's module, so the
references below are the interpreter's own C functions, taken before any code
under test can run. Code under test that later assigns ``time.perf_counter =
...`` (or patches ``time.monotonic``, ``time.process_time``) changes the ``time``
module's attribute, not these references: it cannot change a measurement.

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable

__all__ = ["CLOCKS_TRUSTED", "monotonic", "perf_counter", "process_time"]


def _is_builtin(func: object) -> bool:
    """Return whether ``func`` is still the ``time`` module's own C function."""
    return isinstance(func, types.BuiltinFunctionType) and getattr(func, "__self__", None) is time


def _pick(name: str) -> tuple[Callable[[], float], bool]:
    func = getattr(time, name)
    if _is_builtin(func):
        return func, True
    # Someone replaced the clock before we were imported: fall back to the raw
    # monotonic clock read through clock_gettime when that one is still intact.
    raw = getattr(time, "clock_gettime", None)
    clock_id = getattr(time, "CLOCK_MONOTONIC", None)
    if raw is not None and clock_id is not None and _is_builtin(raw):
        return (lambda: raw(clock_id)), False
    return func, False


perf_counter, _perf_ok = _pick("perf_counter")
monotonic, _mono_ok = _pick("monotonic")
process_time, _proc_ok = _pick("process_time")

#: False when a clock had already been replaced before this module was imported
#: (the measurement then says so instead of trusting it silently).
CLOCKS_TRUSTED: bool = _perf_ok and _mono_ok and _proc_ok
