"""Under pytest-xdist and pytest-timeout (signal and thread methods) nothing survives a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from proctools import assert_all_gone, pids_in

from pytest_mpcheck.startmethods import available_methods

METHODS = available_methods()


MIXED = """
import os, pathlib, time

def note(tag):
    path = pathlib.Path(os.environ["PID_DIR"], f"{tag}-{os.getpid()}.pid")
    path.with_suffix(".tmp").write_text(str(os.getpid()))
    path.with_suffix(".tmp").rename(path)

def finish(q):
    note("ok")
    q.put(os.getpid())

def hang():
    note("hang")
    time.sleep(600)

def test_ok(process_group, timeout_queue):
    q = timeout_queue(timeout=120)  # spawn start-up on a loaded machine can take a while
    p = process_group(finish, args=(q,))
    assert q.get() == p.pid

def test_hang(process_group):
    process_group(hang)

def test_leak(mp_context):
    p = mp_context.Process(target=hang)
    p.start()
    while not list(pathlib.Path(os.environ["PID_DIR"]).glob(f"hang-{p.pid}.pid")):
        time.sleep(0.01)
"""


def test_under_xdist_the_outcomes_are_the_same(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--mp-start-methods=spawn,fork", "--mpcheck-timeout=1", "-p", "no:cacheprovider"
    )
    # Each method: test_ok passes; test_hang passes and errs at teardown; test_leak too.
    result.assert_outcomes(passed=6, errors=4)
    result.stdout.fnmatch_lines(["*process_group: 1 process(es) still running 1 s after*"])
    result.stdout.fnmatch_lines(["*the test left 1 process(es) running; pytest-mpcheck killed*"])
    assert len(pids_in(pytester.path, "hang-*.pid")) == 4
    assert_all_gone(pids_in(pytester.path, "*.pid"), within=1.0)


TIMED_OUT = """
import os, pathlib, time

def note(tag):
    path = pathlib.Path(os.environ["PID_DIR"], f"{tag}-{os.getpid()}.pid")
    path.with_suffix(".tmp").write_text(str(os.getpid()))
    path.with_suffix(".tmp").rename(path)

def hang():
    note("child")
    time.sleep(600)

def plain():
    note("plain")
    time.sleep(600)

def test_stuck_in_join(process_group, mp_manager, mp_context):
    pathlib.Path(os.environ["PID_DIR"], f"manager-{mp_manager._process.pid}.pid").write_text(
        str(mp_manager._process.pid))
    # Started outside the fixtures: only the leak guard knows it belongs to the test.
    mp_context.Process(target=plain, name="plain-child").start()
    p = process_group(hang, name="stuck-child")
    p.join()
"""


PLAIN_TIMED_OUT = """
import multiprocessing, os, pathlib, time
import pytest

def unfixtured():
    path = pathlib.Path(os.environ["PID_DIR"], f"unfixtured-{os.getpid()}.pid")
    path.write_text(str(os.getpid()))
    time.sleep(600)

@pytest.mark.timeout(2)
def test_plain_timed_out():
    p = multiprocessing.get_context("fork").Process(target=unfixtured, name="unfixtured")
    p.start()
    p.join()
"""


def test_signal_timeout_ends_the_test_and_its_processes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(test_timed_out=TIMED_OUT, test_plain=PLAIN_TIMED_OUT)
    # One xdist worker per start method: the three timeouts run side by side.
    result = pytester.runpytest_subprocess(
        "-n", str(len(METHODS)), "--timeout=4", "--timeout-method=signal", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=len(METHODS) + 1, errors=len(METHODS) + 1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>4.0s) from pytest-timeout.*"])
    # A test that uses no fixture is still checked once pytest-timeout ended it.
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_plain_timed_out*",
            "the test left 1 process(es) running; pytest-mpcheck killed them:",
            "  pid * (unfixtured): *",
        ]
    )
    # The teardown did not wait its own 10 s deadline: it ended the child at once.
    result.stdout.fnmatch_lines(
        [
            "process_group: 1 process(es) still running when the test was ended; they were "
            "terminated, then killed:",
            "  pid * (stuck-child): *",
        ]
    )
    # Where the child was stuck, which pytest-timeout's own dump does not show.
    result.stdout.fnmatch_lines(["stuck-child (pid *): *"])
    result.stdout.fnmatch_lines(["*the test left 1 process(es) running; pytest-mpcheck killed*"])
    children = pids_in(pytester.path, "child-*.pid") + pids_in(pytester.path, "plain-*.pid")
    assert len(children) == 2 * len(METHODS)
    children += pids_in(pytester.path, "unfixtured-*.pid")
    assert len(children) == 2 * len(METHODS) + 1
    assert_all_gone(children + pids_in(pytester.path, "manager-*.pid"), within=0.5)


def test_thread_timeout_os_exit_leaves_nothing_behind(tmp_path: Path) -> None:
    """pytest-timeout's thread method ends pytest with os._exit: the reaper ends the rest."""
    runs = []
    for method in METHODS:
        folder = tmp_path / method
        folder.mkdir()
        (folder / "test_timed_out.py").write_text(TIMED_OUT)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--timeout=5",
                "--timeout-method=thread",
                f"--mp-start-methods={method}",
            ],
            cwd=folder,
            env=dict(os.environ, PID_DIR=str(folder)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        runs.append((method, folder, proc))
    for method, folder, proc in runs:
        out, _ = proc.communicate(timeout=120)
        text = out.decode(errors="replace")
        assert "Timeout" in text, text
        assert proc.returncode == 1, text
        assert "pytest-mpcheck: the timed-out test's 3 process(es) end with pytest:" in text
        # The stuck processes' stacks were reported before they were killed.
        assert "plain-child" in text, text
        pids = [
            *pids_in(folder, "child-*.pid"),
            *pids_in(folder, "plain-*.pid"),
            *pids_in(folder, "manager-*.pid"),
        ]
        assert len(pids) == 3, f"{method}: {text}"
        assert_all_gone(pids, within=2.0 + 3.0)
