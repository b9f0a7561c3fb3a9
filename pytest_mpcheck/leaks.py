"""The leak guard: a process a test started that is still alive after it fails the test.

``--mpcheck-leaks`` (ini ``mpcheck_leaks``) chooses where it looks:

``auto`` (default)
    fail, but only tests that use the plugin's fixtures (``mp_context``,
    ``process_group``, ...), and tests that pytest-timeout ended;
``fail`` / ``warn``
    every test, failing it or emitting an :class:`~pytest_mpcheck.MpcheckWarning`;
``off``
    no test.

The guard takes a snapshot of pytest's descendants before the test's setup and
compares after its teardown (so after every fixture has cleaned up). Whatever is
new and still running is reported with its pid, name and command line, then
killed. Not leaks: multiprocessing's helpers (resource tracker, forkserver server),
the reaper's watchdog, and processes started while a fixture of a wider scope than
the function was set up (a session-scoped ``Manager``, say): they belong to that
fixture, not to the test.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

import psutil
import pytest

from pytest_mpcheck import proctree, reaper
from pytest_mpcheck.exceptions import MpcheckWarning
from pytest_mpcheck.fixtures import FIXTURE_NAMES, timed_out
from pytest_mpcheck.i18n import _
from pytest_mpcheck.plugin import option_group
from pytest_mpcheck.processes import hang_report, is_helper_process

__all__ = ["LEAK_MODES", "find_leaks"]

LEAK_MODES = ("auto", "fail", "warn", "off")
LEAKS_HELP = (
    "what to do with processes a test leaves running: auto (default: fail tests that use "
    "the mpcheck fixtures), fail or warn (every test), off"
)
#: How long a process the test has just told to exit gets to do so (seconds).
_EXIT_GRACE = 0.5

_Key = tuple[int, float]
_MODE = pytest.StashKey[str]()
_OWNED = pytest.StashKey[set[_Key]]()
_BEFORE = pytest.StashKey[set[_Key]]()


def _key(proc: psutil.Process) -> _Key | None:
    try:
        return (proc.pid, proc.create_time())
    except psutil.Error:
        return None


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _snapshot() -> dict[_Key, psutil.Process]:
    """pytest's live descendants, keyed by (pid, start time) so a reused pid is told apart."""
    found = {}
    # Twice per test: walk /proc's children lists (a fraction of a millisecond)
    # rather than psutil's scan of every process on the machine (~10 ms when busy).
    for pid in reaper.descendant_pids(psutil.Process(os.getpid())):
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            continue
        key = _key(proc)
        if key is not None:
            found[key] = proc
    return found


def find_leaks(
    before: set[_Key], *, owned: set[_Key] | frozenset[_Key] = frozenset()
) -> list[psutil.Process]:
    """Processes alive now that were not in ``before``, are not helpers and not ``owned``.

    Gives a process that is exiting (just terminated, say) a moment to finish.
    """
    candidates = [
        proc
        for key, proc in _snapshot().items()
        if key not in before and key not in owned and _running(proc)
    ]
    candidates = [proc for proc in candidates if not is_helper_process(proc)]
    deadline = time.monotonic() + _EXIT_GRACE
    while candidates and time.monotonic() < deadline:
        time.sleep(0.05)
        candidates = [proc for proc in candidates if _running(proc)]
    return candidates


def _describe(proc: psutil.Process) -> proctree.ProcessInfo:
    """pid, name and command line; the name the test gave it, for pytest's own children."""
    info = proctree.describe(proc)
    # active_children() also reaps finished children, which is harmless here.
    names = {p.pid: p.name for p in multiprocessing.active_children()}
    if proc.pid in names:
        return proctree.ProcessInfo(info.pid, names[proc.pid], info.cmdline)
    return info


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mpcheck-leaks`` and its ini twin ``mpcheck_leaks``."""
    option_group(parser).addoption(
        "--mpcheck-leaks",
        dest="mpcheck_leaks",
        default=None,
        metavar="MODE",
        help=LEAKS_HELP,
    )
    parser.addini("mpcheck_leaks", help=LEAKS_HELP, default="auto")


def pytest_configure(config: pytest.Config) -> None:
    """Validate the leak guard's mode (a bad value stops the run with one sentence)."""
    option = config.getoption("mpcheck_leaks", default=None)
    source = "--mpcheck-leaks" if option is not None else "ini setting mpcheck_leaks"
    mode = str(option if option is not None else config.getini("mpcheck_leaks") or "auto")
    mode = mode.strip().lower()
    if mode not in LEAK_MODES:
        raise pytest.UsageError(
            f"{source}: unknown mode {mode!r}; choose one of {', '.join(LEAK_MODES)}."
        )
    config.stash[_MODE] = mode
    config.stash[_OWNED] = set()


def _guarded(item: pytest.Item) -> bool:
    mode = item.config.stash.get(_MODE, "auto")
    if mode == "off":
        return False
    if mode in ("fail", "warn"):
        return True
    return bool(FIXTURE_NAMES.intersection(getattr(item, "fixturenames", ())))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Take the snapshot of pytest's descendants before the test's fixtures are set up."""
    if item.config.stash.get(_MODE, "auto") != "off":
        item.stash[_BEFORE] = set(_snapshot())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """Note the processes a wider-scoped fixture starts: they are its, not a test's leaks."""
    if fixturedef.scope == "function" or request.config.stash.get(_MODE, "auto") == "off":
        return (yield)
    before = set(_snapshot())
    try:
        return (yield)
    finally:
        owned = request.config.stash.setdefault(_OWNED, set())
        owned.update(key for key in _snapshot() if key not in before)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After every fixture's teardown, report and kill the processes the test left running."""
    try:
        result = yield
    except BaseException:
        # The teardown failed already: still end the leaks, report them as a warning.
        _check(item, can_fail=False)
        raise
    _check(item)
    return result


def _check(item: pytest.Item, *, can_fail: bool = True) -> None:
    before = item.stash.get(_BEFORE, None)
    if before is None:
        return
    mode = item.config.stash.get(_MODE, "auto")
    if not (_guarded(item) or (mode == "auto" and timed_out(item))):
        return
    leaks = find_leaks(before, owned=item.config.stash.get(_OWNED, set()))
    if not leaks:
        return
    infos = [_describe(proc) for proc in leaks]
    proctree.kill_tree(leaks, terminate_grace=0.0)
    message = "\n".join(
        [
            _("the test left {count} process(es) running; pytest-mpcheck killed them:").format(
                count=len(infos)
            ),
            *[f"  {info}" for info in infos],
            _(
                "Join every process you start (or start them with the process_group "
                "fixture), close and join pools, and shut managers down."
            ),
        ]
    )
    if mode == "warn" or not can_fail:
        item.warn(MpcheckWarning(message))
    else:
        pytest.fail(message, pytrace=False)


# --------------------------------------------------------------------------- #
# pytest-timeout's thread method ends pytest with os._exit(): no teardown runs.


def _hand_over_test_processes(item: pytest.Item) -> None:
    """Report where the test's processes are stuck and hand them to the reaper.

    They are not killed here: the test's thread would then go on (its ``join``
    returns) and pytest-timeout's dump would show the wrong place. The reaper kills
    them as soon as pytest-timeout's ``os._exit`` ends pytest.
    """
    before = item.stash.get(_BEFORE, None)
    if before is None:
        return
    owned = item.config.stash.get(_OWNED, set())
    procs = [
        proc
        for key, proc in _snapshot().items()
        if key not in before and key not in owned and _running(proc)
    ]
    procs = [proc for proc in procs if not is_helper_process(proc)]
    if not procs:
        return
    infos = [_describe(proc) for proc in procs]
    for proc in procs:
        reaper.watch(proc.pid)
    report = hang_report({info.pid: info.name for info in infos}, timeout=5.0)
    sys.stderr.write(
        _("pytest-mpcheck: the timed-out test's {count} process(es) end with pytest:").format(
            count=len(infos)
        )
        + "\n"
        + "".join(f"  {info}\n" for info in infos)
        + (report + "\n" if report else "")
    )
    sys.stderr.flush()


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """Under pytest-timeout's thread method, end the test's processes before it exits.

    Its thread method calls ``os._exit(1)``: no fixture teardown or leak check runs,
    and a process the test started outside the fixtures would outlive pytest (the
    reaper covers only the fixtures' processes). So this hook sets the same timer,
    which first reports the test's new processes and hands them to the reaper, then
    calls pytest-timeout's own handler. With the signal method (or without pytest-timeout's
    handler to call) it returns ``None`` and pytest-timeout proceeds as usual.
    """
    method = getattr(settings, "method", None)
    timeout = getattr(settings, "timeout", None)
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not timeout or (method == "signal" and in_main_thread) or method not in ("signal", "thread"):
        return None
    if item.config.stash.get(_MODE, "auto") == "off":
        return None
    try:
        import pytest_timeout

        fire = pytest_timeout.timeout_timer
    except (ImportError, AttributeError):
        return None

    def expire() -> None:
        try:
            _hand_over_test_processes(item)
        except Exception as exc:  # never keep pytest-timeout from ending the run
            sys.stderr.write(f"pytest-mpcheck: could not end the test's processes: {exc}\n")
        finally:
            fire(item, settings)

    timer = threading.Timer(float(timeout), expire)
    timer.name = f"pytest_mpcheck timeout {item.nodeid}"
    timer.daemon = True

    def cancel() -> None:
        timer.cancel()
        if timer is not threading.current_thread():
            timer.join()

    # pytest-timeout's own cancel hook calls item.cancel_timeout().
    setattr(item, "cancel_timeout", cancel)  # noqa: B010
    timer.start()
    return True
