"""Run learners' code in a supervised child process: :func:`run_call` and :class:`CallOutcome`.

The names are loaded lazily (PEP 562): the sandbox's child process imports
``pytest_mpcheck.sandbox.child``, and must not pay for psutil and the supervisor.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not from typing: the child must start fast (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

    from pytest_mpcheck.sandbox.outcome import STATUSES, CallOutcome
    from pytest_mpcheck.sandbox.supervisor import SandboxError, run_call

__all__ = ["STATUSES", "CallOutcome", "SandboxError", "run_call"]

_WHERE = {
    "STATUSES": "pytest_mpcheck.sandbox.outcome",
    "CallOutcome": "pytest_mpcheck.sandbox.outcome",
    "SandboxError": "pytest_mpcheck.sandbox.supervisor",
    "run_call": "pytest_mpcheck.sandbox.supervisor",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
