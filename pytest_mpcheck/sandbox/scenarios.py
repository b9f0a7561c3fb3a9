"""General-purpose scenarios for :func:`pytest_mpcheck.sandbox.run_call` (and its tests).

A scenario is a top-level function ``scenario(module, *args, **kwargs)`` run in
the sandbox's child with the learner's module; it returns something picklable.
Keep this module's imports light: processes started by the learner's code under
spawn import it again to find :func:`record_pid`.
"""

from __future__ import annotations

import functools
import os

TYPE_CHECKING = False  # not from typing: importing it costs every worker start-up
if TYPE_CHECKING:
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
    """Run ``start_workers(n)`` with a target that calls the learner's ``worker``
    and then :func:`record_pid`; return what the workers recorded.

    Under spawn and forkserver each worker imports this module and the learner's
    (to unpickle the target) from ``sys.path`` as the sandbox's child left it.
    """
    procs = module.start_workers(n, target=functools.partial(_probe_worker, module.worker))
    return {
        "exitcodes": [p.exitcode for p in procs],
        "pids": read_pids(),
        "me": os.getpid(),
        "learner_file": module.__file__,
    }


def _probe_worker(worker: Any, num: int) -> None:
    worker(num)
    record_pid()


def nothing(module: ModuleType) -> str:
    """Import the module and return its file (measures the fixed cost of a call)."""
    return str(module.__file__)


def record_pid(*_args: Any) -> None:
    """Record this process's pid (and learner module file) in ``$MPCHECK_PROBE_DIR``."""
    import sys

    probe_dir = os.environ["MPCHECK_PROBE_DIR"]
    learner = sys.modules.get("ex1_process")
    with open(os.path.join(probe_dir, f"pid-{os.getpid()}"), "w") as f:
        f.write(str(getattr(learner, "__file__", "")))


def read_pids() -> dict[int, str]:
    """The pids that :func:`record_pid` recorded so far, with the learner file each saw."""
    probe_dir = os.environ["MPCHECK_PROBE_DIR"]
    recorded = {}
    for name in os.listdir(probe_dir):
        if name.startswith("pid-"):
            with open(os.path.join(probe_dir, name)) as f:
                recorded[int(name[4:])] = f.read()
    return recorded
