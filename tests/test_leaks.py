"""The leak guard: processes a test leaves running fail it (pid, name, command line), then die."""

from __future__ import annotations

import pytest
from proctools import assert_all_gone, pids_in

from pytest_mpcheck.startmethods import available_methods

METHODS = available_methods()


LEAKY = """
import multiprocessing, os, pathlib, time
import pytest

def sleep_long(pid_dir, tag):
    pathlib.Path(pid_dir, f"{tag}-{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(600)

def short(x):
    return x * 2

def test_leak(mp_context, mp_start_method):
    p = mp_context.Process(target=sleep_long, args=(os.environ["PID_DIR"], "leak"),
                           name="leaky-worker")
    p.start()
    while not list(pathlib.Path(os.environ["PID_DIR"]).glob(f"leak-{p.pid}.pid")):
        time.sleep(0.01)

def test_clean(mp_context):
    p = mp_context.Process(target=short, args=(1,))
    p.start()
    p.join(60)
    with mp_context.Pool(2) as pool:
        assert pool.map(short, [1, 2, 3]) == [2, 4, 6]
    # Semaphores start the resource tracker: a helper, never a leak.
    mp_context.Lock()
    q = mp_context.Queue()
    q.put(1)
    assert q.get(timeout=30) == 1

def test_terminated_but_not_joined(mp_context):
    p = mp_context.Process(target=sleep_long, args=(os.environ["PID_DIR"], "terminated"))
    p.start()
    p.terminate()

def test_not_a_fixture_user():
    p = multiprocessing.get_context("fork").Process(
        target=sleep_long, args=(os.environ["PID_DIR"], "plain"), daemon=True)
    p.start()
    while not list(pathlib.Path(os.environ["PID_DIR"]).glob(f"plain-{p.pid}.pid")):
        time.sleep(0.01)
    p.terminate()  # auto mode does not look here: clean up ourselves
    p.join(30)
"""


def test_a_leak_fails_the_test_with_pid_name_and_cmdline_then_dies(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rE")
    n = len(METHODS)
    # test_leak errs at teardown under each method; nothing else is reported.
    result.assert_outcomes(passed=3 * n + 1, errors=n)
    leaks = pids_in(pytester.path, "leak-*.pid")
    assert len(leaks) == n
    for method in METHODS:
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at teardown of test_leak[[]{method}[]]*",
                "the test left 1 process(es) running; pytest-mpcheck killed them:",
                "  pid * (leaky-worker): *python*",
                "Join every process you start*",
            ]
        )
    for pid in leaks:
        result.stdout.fnmatch_lines([f"  pid {pid} (leaky-worker): *"])
    for name in ("test_clean", "test_terminated_but_not_joined", "test_not_a_fixture_user"):
        result.stdout.no_fnmatch_line(f"*ERROR at teardown of {name}*")
    assert_all_gone(leaks, within=0.5)


SESSION_MANAGER = """
import pytest

@pytest.fixture(scope="session")
def shared_manager():
    import multiprocessing
    with multiprocessing.get_context("spawn").Manager() as manager:
        yield manager

def test_first(mp_context, shared_manager):
    shared_manager.list().append(1)

def test_second(mp_context, shared_manager):
    shared_manager.dict()["a"] = 1
"""


def test_a_manager_owned_by_a_session_fixture_is_not_a_leak(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_session=SESSION_MANAGER)
    result = pytester.runpytest_subprocess(
        "--mp-start-methods=forkserver,fork", "--mpcheck-leaks=fail", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4)


PLAIN_LEAK = """
import multiprocessing, os, pathlib, time

def sleep_long(pid_dir):
    pathlib.Path(pid_dir, f"plain-{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(600)

def test_plain_leak():
    p = multiprocessing.get_context("fork").Process(
        target=sleep_long, args=(os.environ["PID_DIR"],), name="plain-worker", daemon=True)
    p.start()
    while not list(pathlib.Path(os.environ["PID_DIR"]).glob(f"plain-{p.pid}.pid")):
        time.sleep(0.01)

def test_nothing():
    pass
"""


@pytest.mark.parametrize("mode", ["fail", "warn", "off"])
def test_modes_decide_which_tests_are_guarded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(test_plain=PLAIN_LEAK)
    if mode == "warn":
        # Through the ini this time.
        pytester.makeini(f"[pytest]\nmpcheck_leaks = {mode}\n")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    else:
        result = pytester.runpytest_subprocess(f"--mpcheck-leaks={mode}", "-p", "no:cacheprovider")
    (pid,) = pids_in(pytester.path, "plain-*.pid")
    if mode == "fail":
        result.assert_outcomes(passed=2, errors=1)
        result.stdout.fnmatch_lines([f"  pid {pid} (plain-worker): *"])
    elif mode == "warn":
        result.assert_outcomes(passed=2, warnings=1)
        result.stdout.fnmatch_lines(
            [
                "*MpcheckWarning: the test left 1 process(es) running; pytest-mpcheck killed them:",
                f"  *pid {pid} (plain-worker): *",
            ]
        )
    else:
        result.assert_outcomes(passed=2)
        result.stdout.no_fnmatch_line("*left 1 process*")
    # Killed by the guard, or (a daemon) terminated by multiprocessing at exit.
    assert_all_gone([pid], within=5.0)


def test_bad_mode_is_a_one_sentence_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("--mpcheck-leaks=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --mpcheck-leaks: unknown mode 'sometimes'; choose one of auto, fail, warn, off."]
    )
