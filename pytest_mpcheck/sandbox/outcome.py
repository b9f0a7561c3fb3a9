"""What one sandboxed call produced: :class:`CallOutcome` and its statuses.

Imported by the supervisor (in the pytest process) only; the child never builds
a ``CallOutcome``, it sends plain builtins over its result channel.
"""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass, field
from typing import Any, Final

from pytest_mpcheck.proctree import ProcessInfo

__all__ = [
    "CRASHED",
    "IMPORT_ERROR",
    "NOT_IMPLEMENTED",
    "OK",
    "RAISED",
    "STATUSES",
    "TIMEOUT",
    "CallOutcome",
    "signal_name",
]

#: The scenario returned; ``value`` holds what it returned.
OK: Final = "ok"
#: The scenario (or the learner's code under it) raised an exception.
RAISED: Final = "raised"
#: A ``NotImplementedError`` raised from the learner's module: "write this function first".
NOT_IMPLEMENTED: Final = "not_implemented"
#: Importing the learner's module failed (``SyntaxError`` included), or it is missing.
IMPORT_ERROR: Final = "import_error"
#: The deadline expired; ``stacks`` says where each process was stuck.
TIMEOUT: Final = "timeout"
#: The child ended without a result: ``os._exit``, a signal, a fork flood, a closed channel.
CRASHED: Final = "crashed"

STATUSES: Final = (OK, RAISED, NOT_IMPLEMENTED, IMPORT_ERROR, TIMEOUT, CRASHED)


def signal_name(signum: int) -> str:
    """Return ``"SIGSEGV"`` for 11, or ``"signal 99"`` for a number without a name."""
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass
class CallOutcome:
    """The result of :func:`pytest_mpcheck.sandbox.run_call`.

    ``status`` is one of :data:`STATUSES`. Which other fields are set depends on it:

    - ``ok``: ``value`` (the scenario's return value).
    - ``raised`` / ``not_implemented`` / ``import_error``: ``exc_type`` (qualified
      name, e.g. ``"ValueError"`` or ``"ex1_process.MyError"``), ``exc_message``,
      ``traceback`` (trimmed to the learner's own frames when there are any) and
      ``location`` (``"ex1_process.py, line 12, in start_workers"``).
    - ``crashed``: ``exitcode`` (when the child exited) or ``signal`` (when a signal
      killed it), and ``reason``.
    - ``timeout``: ``stacks`` (where every process was stuck) and ``reason``.

    Always set: ``stdout``/``stderr`` (the first ``output_limit`` bytes of each,
    decoded; ``truncated`` tells whether more was cut off), ``duration`` (seconds
    on the supervisor's clock, which the learner's code cannot reach), ``phase``
    (how far the child got: ``start``, ``import``, ``call`` or ``returned``) and
    ``leftovers`` (processes of the call found alive after it and killed; the
    multiprocessing resource tracker and fork server are not counted).
    ``call_duration`` is the scenario call alone, timed inside the child with
    clock functions captured before the learner's module was imported.
    ``pid`` is the sandbox child's (gone by the time you read it).
    """

    status: str
    value: Any = None
    exc_type: str | None = None
    exc_message: str | None = None
    traceback: str = ""
    exitcode: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration: float = 0.0
    stacks: str = ""
    leftovers: list[ProcessInfo] = field(default_factory=list)
    reason: str = ""
    phase: str = "start"
    location: str | None = None
    call_duration: float | None = None
    pid: int | None = None

    @property
    def ok(self) -> bool:
        """True when the scenario returned normally."""
        return self.status == OK

    @property
    def signal_name(self) -> str | None:
        """``"SIGSEGV"`` and the like when a signal ended the child, else ``None``."""
        return None if self.signal is None else signal_name(self.signal)

    def summary(self) -> str:
        """One learner-facing paragraph: what happened, in the learner's terms."""
        if self.status == OK:
            return self.reason
        if self.status in (RAISED, NOT_IMPLEMENTED, IMPORT_ERROR):
            head = self.reason or f"{self.exc_type}: {self.exc_message}"
            return f"{head}\n{self.traceback}".rstrip()
        if self.status == TIMEOUT and self.stacks:
            return f"{self.reason}\n{self.stacks}".rstrip()
        return self.reason
