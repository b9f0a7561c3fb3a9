"""The reaper: when pytest is SIGKILLed, every process of the fixtures is gone within 2 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from proctools import running

from pytest_mpcheck.startmethods import available_methods

METHODS = available_methods()
# The promise is 2 s; the margin absorbs a loaded machine's scheduling.
WITHIN = 2.0 + 3.0


def wait_for_files(
    folder: Path, pattern: str, count: int, proc: subprocess.Popen[bytes]
) -> list[int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [p for p in folder.glob(pattern) if p.read_text().strip()]
        if len(found) >= count:
            return [int(p.read_text()) for p in found]
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"pytest ended before its processes started:\n{out}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the processes never wrote their marker files")


def gone_within(pids: list[int], seconds: float) -> tuple[list[int], float]:
    start = time.monotonic()
    alive = [pid for pid in pids if running(pid)]
    while alive and time.monotonic() - start < seconds:
        time.sleep(0.02)
        alive = [pid for pid in alive if running(pid)]
    return alive, time.monotonic() - start


KILLED = """
import os, pathlib, subprocess, sys, time

def marker(name, pid):
    path = pathlib.Path(os.environ["PID_DIR"], name)
    path.with_suffix(".tmp").write_text(str(pid))
    path.with_suffix(".tmp").rename(path)

def parent():
    # A grandchild in the same process group, and one that moves to its own
    # group: the reaper knows the second only from its scans of descendants.
    same = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    own = subprocess.Popen(["sleep", "600"], start_new_session=True)
    time.sleep(1.5)  # let the watchdog see them (it scans twice a second)
    marker(f"grandchild-{same.pid}.pid", same.pid)
    marker(f"grandchild-{own.pid}.pid", own.pid)
    marker(f"child-{os.getpid()}.pid", os.getpid())
    time.sleep(600)

def test_killed(process_group, mp_manager):
    marker(f"manager-{mp_manager._process.pid}.pid", mp_manager._process.pid)
    process_group(parent, name="parent")
    time.sleep(600)
"""


def test_sigkilled_pytest_leaves_nothing_behind(tmp_path: Path) -> None:
    """One pytest per start method, side by side; each is SIGKILLed once all is running.

    Under fork the test runs in a pytest-xdist worker and the controller is killed.
    """
    runs: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    try:
        for method in METHODS:
            folder = tmp_path / method
            folder.mkdir()
            (folder / "test_killed.py").write_text(KILLED)
            # Under fork, the test runs in a pytest-xdist worker and the controller
            # is what gets killed.
            xdist = ["-n", "1"] if method == "fork" else []
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "no:cacheprovider",
                    "-p",
                    "no:timeout",
                    f"--mp-start-methods={method}",
                    *xdist,
                ],
                cwd=folder,
                env=dict(os.environ, PID_DIR=str(folder)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            runs.append((method, folder, proc))
        for method, folder, proc in runs:
            # The manager's server, the child and its two grandchildren.
            pids = wait_for_files(folder, "*.pid", 4, proc)
            assert all(running(pid) for pid in pids), method
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            alive, took = gone_within(pids, WITHIN)
            assert not alive, f"{method}: still running {took:.1f} s after SIGKILL: {alive}"
    finally:
        for _method, folder, proc in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
            for path in folder.glob("*.pid"):
                pid = int(path.read_text())
                if running(pid):
                    os.kill(pid, signal.SIGKILL)


def test_watch_directly(tmp_path: Path) -> None:
    """``reaper.watch`` works for any pid a caller hands it (the sandbox's children)."""
    script = tmp_path / "watcher.py"
    script.write_text(
        textwrap.dedent(
            """
            import subprocess, sys, time
            from pytest_mpcheck import reaper
            child = subprocess.Popen(["sleep", "600"], start_new_session=True)
            reaper.watch(child.pid)
            reaper.watch(999999999)  # gone already: ignored
            print(child.pid, reaper.watchdog_pid(), flush=True)
            time.sleep(600)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        child, watchdog = int(line[0]), int(line[1])
        assert running(child)
        assert running(watchdog)
        time.sleep(0.3)
        proc.kill()
        proc.wait(30)
        alive, took = gone_within([child, watchdog], WITHIN)
        assert not alive, f"still running {took:.1f} s after the watcher died: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_fork_children_do_not_complain_about_the_watchdog_pipe(tmp_path: Path) -> None:
    """A fork child inherits our end of the pipe; it must let go of it silently.

    Run as a plain script: under pytest, its unraisable-exception hook (inherited
    by fork children) would swallow the complaint.
    """
    script = tmp_path / "forks.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing
            from pytest_mpcheck import ProcessGroup

            def nothing():
                pass

            if __name__ == "__main__":
                with ProcessGroup(multiprocessing.get_context("fork")) as group:
                    for _ in range(3):  # the first start also starts the watchdog
                        group(nothing).join(60)
                print("done")
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-X", "dev", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "done" in proc.stdout
    assert "Exception ignored" not in output, output
    assert "ResourceWarning" not in output, output
