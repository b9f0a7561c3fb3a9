"""General-purpose scenarios for :func:`pytest_mpcheck.sandbox.run_call` (and its tests).

A scenario is a top-level function ``scenario(module, *args, **kwargs)`` run in
the sandbox's child with the learner's module; it returns something picklable.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["call_function", "ex1_exitcodes", "nothing"]


def call_function(module: ModuleType, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``module.name(*args, **kwargs)`` and return its result as is."""
    return getattr(module, name)(*args, **kwargs)


def ex1_exitcodes(module: ModuleType, n: int) -> list[int | None]:
    """Run ``start_workers(n)`` and return the exit codes of the processes it returns."""
    return [p.exitcode for p in module.start_workers(n)]


def nothing(module: ModuleType) -> str:
    """Import the module and return its file (measures the fixed cost of a call)."""
    return str(module.__file__)
