"""General-purpose scenarios for :func:`pytest_mpcheck.sandbox.run_call` (and its tests).

A scenario is a top-level function ``scenario(module, *args, **kwargs)`` run in
the sandbox's child with the learner's module; it returns something picklable.
Keep this module's imports light: processes started by the learner's code under
spawn import it again to find :func:`record_pid`.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

__all__ = ["call_function", "ex1_exitcodes", "ex1_probe", "nothing", "read_pids", "record_pid"]


def call_function(module: ModuleType, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``module.name(*args, **kwargs)`` and return its result as is."""
    return getattr(module, name)(*args, **kwargs)


def ex1_exitcodes(module: ModuleType, n: int) -> list[int | None]:
    """Run ``start_workers(n)`` and return the exit codes of the processes it returns."""
    return [p.exitcode for p in module.start_workers(n)]


def ex1_probe(module: ModuleType, n: int) -> dict[str, Any]:
    """Run ``start_workers(n, target=record_pid)``; return what the workers recorded.

    Under spawn and forkserver each worker imports this module (and the learner's)
    from ``sys.path`` as the sandbox's child left it.
    """
    procs = module.start_workers(n, target=record_pid)
    return {
        "exitcodes": [p.exitcode for p in procs],
        "pids": read_pids(),
        "me": os.getpid(),
        "learner_file": module.__file__,
    }


def nothing(module: ModuleType) -> str:
    """Import the module and return its file (measures the fixed cost of a call)."""
    return str(module.__file__)


def record_pid(*_args: Any) -> None:
    """Record this process's pid (and learner module file) in ``$MPCHECK_PROBE_DIR``."""
    import sys

    probe_dir = os.environ["MPCHECK_PROBE_DIR"]
    learner = [
        getattr(sys.modules[name], "__file__", "")
        for name in ("ex1_process",)
        if name in sys.modules
    ]
    with open(os.path.join(probe_dir, f"pid-{os.getpid()}"), "w") as f:
        f.write("\n".join(learner))


def read_pids() -> list[int]:
    """The pids that :func:`record_pid` recorded so far."""
    probe_dir = os.environ["MPCHECK_PROBE_DIR"]
    return sorted(int(name[4:]) for name in os.listdir(probe_dir) if name.startswith("pid-"))
