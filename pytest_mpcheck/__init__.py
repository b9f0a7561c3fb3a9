"""pytest-mpcheck: a pytest plugin and exercise kit for Python multiprocessing.

The public API: fixtures are found by pytest through the plugin; what a suite
imports is re-exported here.
"""

from __future__ import annotations

import importlib

# Not ``from typing import TYPE_CHECKING``: importing typing costs every sandbox
# child and spawned worker start-up a noticeable share of its time (mypy treats
# any name TYPE_CHECKING this way).
TYPE_CHECKING = False

# Keep this module import-light: every sandbox child, and every process a learner's
# code starts under spawn or forkserver, imports ``pytest_mpcheck`` (scenarios,
# probes), and importing pytest there costs ~200 ms each time. So the public names
# are loaded on first use (PEP 562): add a name to _LAZY and to the TYPE_CHECKING
# block, never as a plain top-level import.
if TYPE_CHECKING:
    from typing import Any

    from pytest_mpcheck.exceptions import MpcheckError, MpcheckUsageError, MpcheckWarning
    from pytest_mpcheck.processes import ProcessGroup, ProcessGroupError
    from pytest_mpcheck.queues import QueueTimeoutError, TimeoutQueue
    from pytest_mpcheck.sentinel import (
        ShutdownReport,
        assert_pipeline_shutdown,
        assert_sentinel_shutdown,
        check_pipeline_shutdown,
        check_sentinel_shutdown,
    )
    from pytest_mpcheck.speedup import (
        SpeedupMeasurement,
        SpeedupVerdict,
        assert_speedup,
        effective_cpus,
        measure_speedup,
    )
    from pytest_mpcheck.speedup import judge as judge_speedup
    from pytest_mpcheck.stacks import ProcessStack, dump_stacks, format_stacks
    from pytest_mpcheck.startmethods import available_methods

# public name -> (module, name in that module)
_LAZY = {
    "MpcheckError": ("pytest_mpcheck.exceptions", "MpcheckError"),
    "MpcheckUsageError": ("pytest_mpcheck.exceptions", "MpcheckUsageError"),
    "MpcheckWarning": ("pytest_mpcheck.exceptions", "MpcheckWarning"),
    "ProcessGroup": ("pytest_mpcheck.processes", "ProcessGroup"),
    "ProcessGroupError": ("pytest_mpcheck.processes", "ProcessGroupError"),
    "ProcessStack": ("pytest_mpcheck.stacks", "ProcessStack"),
    "QueueTimeoutError": ("pytest_mpcheck.queues", "QueueTimeoutError"),
    "ShutdownReport": ("pytest_mpcheck.sentinel", "ShutdownReport"),
    "SpeedupMeasurement": ("pytest_mpcheck.speedup", "SpeedupMeasurement"),
    "SpeedupVerdict": ("pytest_mpcheck.speedup", "SpeedupVerdict"),
    "TimeoutQueue": ("pytest_mpcheck.queues", "TimeoutQueue"),
    "assert_pipeline_shutdown": ("pytest_mpcheck.sentinel", "assert_pipeline_shutdown"),
    "assert_sentinel_shutdown": ("pytest_mpcheck.sentinel", "assert_sentinel_shutdown"),
    "assert_speedup": ("pytest_mpcheck.speedup", "assert_speedup"),
    "available_methods": ("pytest_mpcheck.startmethods", "available_methods"),
    "check_pipeline_shutdown": ("pytest_mpcheck.sentinel", "check_pipeline_shutdown"),
    "check_sentinel_shutdown": ("pytest_mpcheck.sentinel", "check_sentinel_shutdown"),
    "dump_stacks": ("pytest_mpcheck.stacks", "dump_stacks"),
    "effective_cpus": ("pytest_mpcheck.speedup", "effective_cpus"),
    "format_stacks": ("pytest_mpcheck.stacks", "format_stacks"),
    "judge_speedup": ("pytest_mpcheck.speedup", "judge"),
    "measure_speedup": ("pytest_mpcheck.speedup", "measure_speedup"),
}

__version__ = "0.1.0"

__all__ = [
    "MpcheckError",
    "MpcheckUsageError",
    "MpcheckWarning",
    "ProcessGroup",
    "ProcessGroupError",
    "ProcessStack",
    "QueueTimeoutError",
    "ShutdownReport",
    "SpeedupMeasurement",
    "SpeedupVerdict",
    "TimeoutQueue",
    "__version__",
    "assert_pipeline_shutdown",
    "assert_sentinel_shutdown",
    "assert_speedup",
    "available_methods",
    "check_pipeline_shutdown",
    "check_sentinel_shutdown",
    "dump_stacks",
    "effective_cpus",
    "format_stacks",
    "judge_speedup",
    "measure_speedup",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (see the comment above ``_LAZY``)."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
