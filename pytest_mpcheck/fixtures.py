"""The fixtures any suite can use: ``mp_start_method``, ``mp_context`` and friends.

``mp_start_method`` is parametrized in :func:`pytest_generate_tests`, once per start
method selected for the run (see :mod:`pytest_mpcheck.startmethods`), with the method
as the test id: ``test_x[spawn]``, ``test_x[forkserver]``, ``test_x[fork]``. Every
other fixture here depends on it, so using any of them runs the test under each method.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from multiprocessing.context import BaseContext
from multiprocessing.managers import SyncManager
from typing import Any

import psutil
import pytest

from pytest_mpcheck import proctree, reaper
from pytest_mpcheck.i18n import _
from pytest_mpcheck.plugin import option_group
from pytest_mpcheck.processes import (
    DEFAULT_TIMEOUT,
    TERMINATE_GRACE,
    ProcessGroup,
    ProcessGroupError,
    hang_report,
    is_helper_process,
)
from pytest_mpcheck.queues import TimeoutQueue
from pytest_mpcheck.startmethods import marker_methods, selected_methods

__all__ = [
    "FIXTURE_NAMES",
    "fixture_timeout",
    "mp_context",
    "mp_manager",
    "mp_start_method",
    "process_group",
    "timed_out",
    "timeout_queue",
]

TIMEOUT_HELP = (
    "default deadline in seconds of the fixtures' blocking calls: timeout_queue's "
    "get/put/join, process_group's join and mp_manager's shutdown at teardown "
    f"(default: {DEFAULT_TIMEOUT:g})"
)

_TIMEOUT = pytest.StashKey[float]()
# When pytest-timeout will end the test (time.monotonic()), from its set_timer hook.
_TIMEOUT_DEADLINE = pytest.StashKey[float]()
# pytest-timeout ended the test.
_TIMED_OUT = pytest.StashKey[bool]()
# The test's call phase failed (its fixtures need not wait long for its processes).
_CALL_FAILED = pytest.StashKey[bool]()
# The process groups of the running test, for hang reports.
_GROUPS = pytest.StashKey[list[ProcessGroup]]()
# Seconds kept in hand before pytest-timeout's deadline to end processes ourselves.
_TIMEOUT_MARGIN = 1.0

#: The plugin's fixtures: a test that uses one of them is a "fixture user" for the
#: leak guard's ``auto`` mode.
FIXTURE_NAMES = frozenset(
    {"mp_start_method", "mp_context", "process_group", "mp_manager", "timeout_queue"}
)


def _explicitly_parametrized(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        names = (
            [n.strip() for n in argnames.split(",")]
            if isinstance(argnames, str)
            else list(argnames)
        )
        if "mp_start_method" in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs ``mp_start_method`` once per selected start method.

    A test that parametrizes ``mp_start_method`` itself keeps its own values.
    """
    if "mp_start_method" not in metafunc.fixturenames or _explicitly_parametrized(metafunc):
        return
    selected = selected_methods(metafunc.config)
    narrowed = marker_methods(metafunc.definition)
    params: list[object]
    if narrowed is None:
        params = [pytest.param(m, id=m) for m in selected]
    else:
        runnable, not_offered = narrowed
        # The intersection, in the run's order (spawn, forkserver, fork by default).
        params = [pytest.param(m, id=m) for m in selected if m in runnable]
        if not params:
            # Nothing left to run: keep the methods the marker asked for as visible
            # skips with the reason, rather than a test that silently vanishes.
            params = [
                pytest.param(
                    m,
                    id=m,
                    marks=pytest.mark.skip(
                        reason=(
                            f"start method {m!r} is not offered here"
                            if m in not_offered
                            else f"start method {m!r} is not selected by --mp-start-methods"
                        )
                    ),
                )
                for m in runnable + not_offered
            ]
    metafunc.parametrize("mp_start_method", params, indirect=True)


@pytest.fixture
def mp_start_method(request: pytest.FixtureRequest) -> str:
    """The start method this instance of the test runs under (``"spawn"``, ...).

    Parametrized by the plugin, once per method selected with ``--mp-start-methods``
    and narrowed by ``@pytest.mark.mp_start_methods``; the method is the test id.
    """
    param = getattr(request, "param", None)
    if param is None:
        # Requested dynamically (getfixturevalue), so not parametrized: the first
        # selected method is the most instructive one.
        return selected_methods(request.config)[0]
    return str(param)


@pytest.fixture
def mp_context(mp_start_method: str) -> BaseContext:
    """A ``multiprocessing`` context for the test's start method.

    Never touches the global start method: ``multiprocessing.get_context`` only.
    """
    return multiprocessing.get_context(mp_start_method)


# --------------------------------------------------------------------------- #
# Options, and what pytest-timeout tells us.


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mpcheck-timeout`` and its ini twin ``mpcheck_timeout``."""
    option_group(parser).addoption(
        "--mpcheck-timeout",
        dest="mpcheck_timeout",
        default=None,
        metavar="SECONDS",
        help=TIMEOUT_HELP,
    )
    parser.addini("mpcheck_timeout", help=TIMEOUT_HELP, default="")


def _parse_timeout(value: str, source: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise pytest.UsageError(f"{source} must be a positive number of seconds, not {value!r}.")
    return seconds


def pytest_configure(config: pytest.Config) -> None:
    """Validate ``--mpcheck-timeout`` (a bad value stops the run with one sentence)."""
    global _interrupted
    _interrupted = False  # a new run (pytester may run several in one process)
    option = config.getoption("mpcheck_timeout", default=None)
    ini = str(config.getini("mpcheck_timeout") or "").strip()
    if option is not None:
        config.stash[_TIMEOUT] = _parse_timeout(str(option), "--mpcheck-timeout")
    elif ini:
        config.stash[_TIMEOUT] = _parse_timeout(ini, "ini setting mpcheck_timeout")
    else:
        config.stash[_TIMEOUT] = DEFAULT_TIMEOUT


def fixture_timeout(config: pytest.Config) -> float:
    """The fixtures' default deadline in seconds (``--mpcheck-timeout``)."""
    return config.stash.get(_TIMEOUT, DEFAULT_TIMEOUT)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    """Note when pytest-timeout will end the test, so teardown stops waiting in time.

    Returns ``None``: pytest-timeout's own implementation still sets the timer.
    """
    timeout = getattr(settings, "timeout", None)
    if timeout:
        item.stash[_TIMEOUT_DEADLINE] = time.monotonic() + float(timeout)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    """Forget pytest-timeout's deadline once its timer is cancelled (returns ``None``).

    pytest-timeout also cancels from ``pytest_exception_interact``, right after it
    ended the test: remember then that the test timed out.
    """
    deadline = item.stash.get(_TIMEOUT_DEADLINE, None)
    if deadline is not None and time.monotonic() >= deadline:
        item.stash[_TIMED_OUT] = True
    with contextlib.suppress(KeyError):
        del item.stash[_TIMEOUT_DEADLINE]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed call: the fixtures then end the test's processes without waiting."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """On Ctrl-C, let the teardown that follows end the test's processes without waiting.

    The fixtures' processes live in process groups of their own, so the terminal's
    SIGINT does not reach them; waiting out their deadline would make Ctrl-C slow.
    """
    global _interrupted
    _interrupted = True


_interrupted = False


def timed_out(item: pytest.Item) -> bool:
    """Whether pytest-timeout's deadline for ``item`` has passed (it is ending the test)."""
    if item.stash.get(_TIMED_OUT, False):
        return True
    deadline = item.stash.get(_TIMEOUT_DEADLINE, None)
    return deadline is not None and time.monotonic() >= deadline


def teardown_budget(item: pytest.Item, timeout: float) -> float:
    """How long a fixture may wait at teardown: its deadline, cut short when needed.

    After a failed test (a timed-out queue, a failed assertion) its processes are
    usually stuck: wait one second, not the whole deadline. Under pytest-timeout,
    keep a margin before its deadline to end the processes ourselves.
    """
    if timed_out(item) or _interrupted:
        return 0.0
    budget = timeout
    if item.stash.get(_CALL_FAILED, False):
        budget = min(budget, TERMINATE_GRACE)
    deadline = item.stash.get(_TIMEOUT_DEADLINE, None)
    if deadline is not None:
        budget = min(budget, max(0.0, deadline - time.monotonic() - _TIMEOUT_MARGIN))
    return budget


def _test_processes(item: pytest.Item) -> dict[int, str]:
    """The live processes of the running test (pid -> name), for a hang report."""
    pids: dict[int, str] = {}
    for group in item.stash.get(_GROUPS, []):
        for process in group.alive():
            if process.pid is not None:
                pids[process.pid] = process.name
        for child in group.refresh():
            pids.setdefault(child.pid, proctree.describe(child).name)
    if not pids:
        for proc in proctree.descendants(os.getpid()):
            if not is_helper_process(proc):
                pids[proc.pid] = proctree.describe(proc).name
    return pids


# --------------------------------------------------------------------------- #
# The fixtures.


@pytest.fixture
def process_group(
    request: pytest.FixtureRequest, mp_context: BaseContext
) -> Iterator[ProcessGroup]:
    """A factory of processes of ``mp_context`` that never leaves one behind.

    ``process_group(target, args=(...))`` starts and returns a process. At teardown
    daemons are terminated; the others are joined within ``--mpcheck-timeout``,
    and those still running are reported with their stacks, terminated, then
    killed, which fails the test (as an error at teardown).
    """
    timeout = fixture_timeout(request.config)
    group = ProcessGroup(mp_context, timeout=timeout, name="process_group")
    groups = request.node.stash.setdefault(_GROUPS, [])
    groups.append(group)
    yield group
    groups.remove(group)
    failed = request.node.stash.get(_CALL_FAILED, False)
    message = None
    try:
        # After a failed test its own report usually shows the hang already; not
        # after pytest-timeout's, which shows only pytest's own threads.
        stacks = (timed_out(request.node) or not failed) and not _interrupted
        group.close(timeout=teardown_budget(request.node, timeout), stacks=stacks)
    except ProcessGroupError as exc:
        message = str(exc)
    # After Ctrl-C, end the processes quietly: the user stopped the run on purpose.
    if message is not None and not _interrupted:
        pytest.fail(message, pytrace=False)


_queue_numbers = itertools.count(1)


@pytest.fixture
def timeout_queue(
    request: pytest.FixtureRequest, mp_context: BaseContext
) -> Iterator[Callable[..., TimeoutQueue]]:
    """A factory of ``mp_context`` queues whose blocking calls carry a deadline.

    ``timeout_queue(maxsize=0, *, name=None, timeout=None, joinable=False)`` returns a
    :class:`~pytest_mpcheck.queues.TimeoutQueue`; ``timeout`` defaults to
    ``--mpcheck-timeout``. Its queues are closed at teardown without blocking.
    """
    default = fixture_timeout(request.config)
    made: list[TimeoutQueue] = []
    item = request.node

    def make(
        maxsize: int = 0,
        *,
        name: str | None = None,
        timeout: float | None = None,
        joinable: bool = False,
    ) -> TimeoutQueue:
        queue = TimeoutQueue(
            mp_context,
            maxsize,
            name=name or f"queue-{next(_queue_numbers)}",
            timeout=default if timeout is None else timeout,
            joinable=joinable,
            hang_report=lambda: hang_report(_test_processes(item)),
        )
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.dispose()


def _shutdown_manager(
    manager: SyncManager, pid: int | None, budget: float, *, stacks: bool = True
) -> list[str]:
    """Shut ``manager`` down within ``budget`` seconds; return problems found."""
    problems: list[str] = []
    # shutdown() talks to the server and could wait on a stuck one forever:
    # run it in a thread and kill the server if it does not finish in time.
    worker = threading.Thread(target=manager.shutdown, name="mpcheck-manager-shutdown")
    worker.daemon = True
    worker.start()
    worker.join(budget)
    if worker.is_alive() and pid is not None:
        report = hang_report({pid: "manager server"}) if stacks else ""
        killed = proctree.kill_tree([pid])
        problems += [
            _("the manager did not shut down within {seconds:g} s; killed {process}").format(
                seconds=budget, process=info
            )
            for info in killed
        ]
        if report:
            problems.append(report)
        worker.join(TERMINATE_GRACE)
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            server = psutil.Process(pid)
            _gone, alive = psutil.wait_procs([server], timeout=TERMINATE_GRACE)
            for info in proctree.kill_tree(alive):
                problems.append(
                    _("the manager's server process was still running: killed {process}").format(
                        process=info
                    )
                )
    return problems


@pytest.fixture
def mp_manager(request: pytest.FixtureRequest, mp_context: BaseContext) -> Iterator[SyncManager]:
    """A started ``Manager`` of ``mp_context``, shut down at teardown (its server process gone).

    The server process dies with pytest too (it is watched by the reaper).
    """
    manager = mp_context.Manager()
    process = getattr(manager, "_process", None)
    pid: int | None = getattr(process, "pid", None)
    if pid is not None:
        reaper.watch(pid)
    yield manager
    budget = max(teardown_budget(request.node, fixture_timeout(request.config)), 0.5)
    quiet = _interrupted or request.node.stash.get(_CALL_FAILED, False)
    problems = _shutdown_manager(manager, pid, budget, stacks=not quiet)
    if problems and not _interrupted:
        pytest.fail("mp_manager: " + "\n".join(problems), pytrace=False)
