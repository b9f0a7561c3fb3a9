"""The fixtures end to end: process_group, timeout_queue, mp_manager, under each start method."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from proctools import assert_all_gone, pids_in

from pytest_mpcheck.startmethods import available_methods

METHODS = available_methods()


WORKING = """
import os, pathlib, queue, time
import pytest

def put_pid(q):
    q.put(os.getpid())

def consume(q):
    while True:
        item = q.get()
        q.task_done()
        if item is None:
            return

def test_process_group_starts_processes_of_the_context(
    process_group, timeout_queue, mp_start_method
):
    q = timeout_queue()
    procs = [process_group(put_pid, args=(q,), name=f"worker-{i}") for i in range(3)]
    got = sorted(q.get() for _ in procs)
    assert got == sorted(p.pid for p in procs)
    assert os.getpid() not in got
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert type(procs[0]).__name__.lower() == mp_start_method + "process"
    assert [p.name for p in process_group.processes] == ["worker-0", "worker-1", "worker-2"]

def test_unstarted_process_then_start(process_group, timeout_queue):
    q = timeout_queue()
    p = process_group(put_pid, args=(q,), start=False)
    assert p.pid is None
    process_group.start(p)
    assert q.get() == p.pid
    assert process_group.join_all() == []

def test_daemon_left_running_is_not_reported(process_group):
    process_group(time.sleep, args=(60,), daemon=True)

def test_joinable_queue(process_group, timeout_queue):
    q = timeout_queue(joinable=True, name="tasks")
    process_group(consume, args=(q,))
    for item in [1, 2, None]:
        q.put(item)
    q.join()

def test_explicit_timeout_keeps_the_standard_behaviour(timeout_queue):
    q = timeout_queue(maxsize=1)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put(1)
    with pytest.raises(queue.Full):
        q.put(2, block=False)

def wait_for_nothing(q, out):
    try:
        q.get()
    except Exception as exc:
        out.put(type(exc).__name__ + ": " + str(exc))

def test_queue_deadline_travels_to_a_child(process_group, timeout_queue):
    q = timeout_queue(name="inbox", timeout=0.5)
    out = timeout_queue(name="out", timeout=120)
    process_group(wait_for_nothing, args=(q, out))
    message = out.get()
    assert message.startswith("QueueTimeoutError: timeout_queue 'inbox': get() waited 0.5 s")

def test_track_ends_an_adopted_pid_at_teardown(process_group):
    import subprocess
    sleeper = subprocess.Popen(["sleep", "600"])
    process_group.track(sleeper.pid)
    pathlib.Path(os.environ["PID_DIR"], f"tracked-{sleeper.pid}.pid").write_text(str(sleeper.pid))

def test_manager(mp_manager, tmp_path_factory):
    d = mp_manager.dict()
    d["a"] = 1
    assert dict(d) == {"a": 1}
    pid = mp_manager._process.pid
    pathlib.Path(os.environ["PID_DIR"], f"manager-{pid}.pid").write_text(str(pid))
"""


def test_fixtures_work_under_every_method(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(test_working=WORKING)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    # No error at teardown: the tracked pid was ended by the group, not left to
    # the leak guard.
    result.assert_outcomes(passed=8 * len(METHODS))
    tracked = pids_in(pytester.path, "tracked-*.pid")
    assert len(tracked) == len(METHODS)
    assert_all_gone(tracked, within=0.5)
    for method in METHODS:
        result.stdout.fnmatch_lines([f"*test_manager[[]{method}[]] PASSED*"])
    managers = pids_in(pytester.path, "manager-*.pid")
    assert len(managers) == len(METHODS)
    # The manager's server process is gone once the test is over.
    assert_all_gone(managers, within=0.5)


HANGING = """
import os, pathlib, time

def stuck_forever(pid_dir):
    pathlib.Path(pid_dir, f"child-{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(600)

def test_hang(process_group):
    process_group(stuck_forever, args=(os.environ["PID_DIR"],), name="stuck-worker")
"""


def test_a_hang_is_ended_by_the_deadline_with_a_clear_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(test_hanging=HANGING)
    result = pytester.runpytest_subprocess("--mpcheck-timeout=1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(METHODS), errors=len(METHODS))
    for method in METHODS:
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at teardown of test_hang[[]{method}[]]*",
                "process_group: 1 process(es) still running 1 s after the test ended; "
                "they were terminated, then killed:",
                "  pid * (stuck-worker): *python*",
                "Join every process the test starts*",
            ]
        )
    # Where it was stuck: the learner's own line (when py-spy may read the process).
    output = result.stdout.str()
    assert output.count("stuck-worker") >= len(METHODS)
    assert output.count("Where each process still alive is stuck") == len(METHODS)
    if "unavailable" not in output.lower():
        result.stdout.fnmatch_lines(["*test_hanging.py*line 5, in stuck_forever*"])
    children = pids_in(pytester.path, "child-*.pid")
    assert len(children) == len(METHODS)
    assert_all_gone(children, within=0.5)


QUEUE_TIMEOUTS = """
import time

def test_get_on_an_empty_queue(timeout_queue):
    q = timeout_queue(name="results", timeout=0.5)
    q.get()

def test_put_on_a_full_queue(timeout_queue):
    q = timeout_queue(1, name="tasks", timeout=0.5)
    q.put(1)
    q.put(2)

def test_join_with_unfinished_items(timeout_queue):
    q = timeout_queue(name="jobs", joinable=True, timeout=0.5)
    q.put(1)
    time.sleep(0.2)
    q.join()
"""


def test_queue_deadlines_name_the_queue_and_what_it_waited_for(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_queues=QUEUE_TIMEOUTS)
    result = pytester.runpytest_subprocess("--mp-start-methods=fork", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*QueueTimeoutError: timeout_queue 'results': get() waited 0.5 s for an item, "
            "but none came (the queue stayed empty).*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*QueueTimeoutError: timeout_queue 'tasks': put() waited 0.5 s for room, but the "
            "queue stayed full (maxsize=1).*"
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*QueueTimeoutError: timeout_queue 'jobs': join() waited 0.5 s for every item to "
            "be marked done, but 1 item(s) are still unfinished.*"
        ]
    )
    # The wrapper's own frames are hidden: the failure points at the test's line.
    assert "def get(self" not in result.stdout.str()


def test_descendants_left_behind_are_killed_and_reported(
    pytester: pytest.Pytester, monkeypatch
) -> None:
    monkeypatch.setenv("PID_DIR", str(pytester.path))
    pytester.makepyfile(
        """
        import os, pathlib, subprocess, sys

        def start_grandchild(pid_dir):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            pathlib.Path(pid_dir, f"grandchild-{child.pid}.pid").write_text(str(child.pid))

        def test_orphan(process_group):
            p = process_group(start_grandchild, args=(os.environ["PID_DIR"],))
            p.join(60)
            assert p.exitcode == 0
        """
    )
    result = pytester.runpytest_subprocess(
        "--mp-start-methods=spawn,fork", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "process_group: 1 descendant process(es) left running after their parent ended; "
            "they were killed:",
            "  pid * (python*): *time.sleep(600)*",
        ]
    )
    grandchildren = pids_in(pytester.path, "grandchild-*.pid")
    assert len(grandchildren) == 2
    assert_all_gone(grandchildren, within=0.5)


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (("--mpcheck-timeout=soon",), None, "--mpcheck-timeout must be a positive number*'soon'*"),
        ((), "[pytest]\nmpcheck_timeout = 0\n", "ini setting mpcheck_timeout must be*'0'*"),
    ],
    ids=["word", "ini-zero"],
)
def test_bad_timeout_is_a_one_sentence_usage_error(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str | None, message: str
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_ctrl_c_ends_the_processes_without_waiting_for_the_deadline(
    pytester: pytest.Pytester,
) -> None:
    """The processes sit in process groups of their own, out of the terminal's SIGINT."""
    pytester.makepyfile(
        test_interrupted="""
        import os, pathlib, time

        def sleeper():
            time.sleep(600)

        def test_x(process_group):
            p = process_group(sleeper, name="sleeper")
            pathlib.Path(os.environ["PID_DIR"], "child.pid").write_text(str(p.pid))
            p.join()
        """
    )
    marker = pytester.path / "child.pid"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--mp-start-methods=fork",
            "--mpcheck-timeout=600",
        ],
        cwd=pytester.path,
        env=dict(os.environ, PID_DIR=str(pytester.path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A shell's background job would ignore SIGINT; make sure this one does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.05)
        time.sleep(0.3)  # into p.join()
        proc.send_signal(signal.SIGINT)
        # Without the fix the teardown would wait the 600 s deadline.
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    text = out.decode(errors="replace")
    assert "KeyboardInterrupt" in text, text
    assert "Traceback" not in text, text
    assert_all_gone([int(marker.read_text())], within=1.0)


def test_a_stuck_manager_is_killed_with_a_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_stuck_manager="""
        import os, signal

        def test_stuck(mp_manager):
            mp_manager.dict()
            os.kill(mp_manager._process.pid, signal.SIGSTOP)
            with open("server.pid", "w") as f:
                f.write(str(mp_manager._process.pid))
        """
    )
    result = pytester.runpytest_subprocess(
        "--mp-start-methods=fork", "--mpcheck-timeout=1", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["mp_manager: the manager did not shut down within 1 s; killed pid *"]
    )
    assert_all_gone([int((pytester.path / "server.pid").read_text())], within=1.0)
