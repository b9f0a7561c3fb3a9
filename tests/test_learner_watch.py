"""``mpcheck watch`` in a real (pseudo) terminal: save, re-run, move on, Ctrl-C, nothing left.

The watch runs as a learner starts it: its own session with the pty as the
controlling terminal, so the Ctrl-C typed into the terminal (``\\x03``) reaches it
as SIGINT from the line discipline, exactly as from a keyboard. The exercise
tests here are tiny stand-ins for the kit's, so that what is checked is the loop.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

MPCHECK = Path(sys.executable).with_name("mpcheck")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Generous: two cores shared by a whole team, and every re-run starts a pytest.
WAIT = 90.0

# Acquire the pty as controlling terminal (we are a session leader), then become mpcheck.
BECOME_TERMINAL_OWNER = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


class Terminal:
    """A command running in a pseudo terminal, with its screen output kept as text."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        command = (
            [str(MPCHECK)] if MPCHECK.exists() else [sys.executable, "-m", "pytest_mpcheck.cli"]
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", BECOME_TERMINAL_OWNER, *command, *args],
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.text = ""
        self._seen = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every writer of the terminal is gone
            return False
        if not data:
            return False
        self.text += ANSI.sub("", data.decode("utf-8", "replace")).replace("\r\n", "\n")
        return True

    def expect(self, pattern: str, timeout: float = WAIT) -> str:
        """Wait until ``pattern`` (a regex) shows after what was already matched."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text[self._seen :])
            if match:
                self._seen += match.end()
                return match.group(0)
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(min(left, 0.5)) and self.proc.poll() is not None):
                raise AssertionError(
                    f"{pattern!r} did not show within {timeout:.0f} s; the screen:\n{self.text}"
                )

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float = WAIT) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            with_session = psutil.Process(self.proc.pid)
            for child in with_session.children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _save(path: Path, text: str) -> None:
    """Save as an editor does; the size changes too, so the save is seen at once."""
    path.write_text(text, encoding="utf-8")


EX1_TEST = """
from ex1_process import VALUE

def test_ex1_process_value():
    assert VALUE == 1, "VALUE must be 1"
"""

# ex2's test starts a grandchild that would outlive a careless watch (it ignores
# SIGINT and lives in a session of its own, as the sandbox's children do), writes
# both pids where the test can see them, and then hangs like a learner's deadlock.
# With IGNORE_SIGINT set, pytest itself ignores SIGINT too (stuck beyond reach).
EX2_TEST = """
import os, signal, subprocess, sys, time
from pathlib import Path
import ex2_pool

STUBBORN = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"

def test_ex2_pool_hangs():
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
    if os.environ.get("IGNORE_SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(0.5)  # let the child set its handler
    Path(os.environ["PIDS_FILE"]).write_text(f"{os.getpid()} {child.pid} {ex2_pool.VERSION}")
    time.sleep(600)
"""


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    (exercises / "ex1_process.py").write_text("VALUE = 0\n", encoding="utf-8")
    (exercises / "test_ex1_process.py").write_text(EX1_TEST, encoding="utf-8")
    (exercises / "ex2_pool.py").write_text("VERSION = 1\n", encoding="utf-8")
    (exercises / "test_ex2_pool.py").write_text(EX2_TEST, encoding="utf-8")
    return tmp_path


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTEST_"))}
    env.update(LANG="C.UTF-8", TERM="xterm", PIDS_FILE=str(tmp_path / "pids.txt"))
    return env


_started: list[int] = []


@pytest.fixture(autouse=True)
def _kill_what_a_failed_test_left() -> Iterator[None]:
    """If a check fails, end what the hanging test started (by pid, nothing broader)."""
    yield
    while _started:
        pid = _started.pop()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _pids(path: Path, timeout: float = WAIT) -> tuple[int, int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if len(text.split()) == 3:
            pytest_pid, child_pid, version = text.split()
            _started.extend((int(pytest_pid), int(child_pid)))
            return int(pytest_pid), int(child_pid), version
        time.sleep(0.1)
    raise AssertionError("the hanging test never started")


def _gone(*pids: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_alive(pid) for pid in pids)


def test_watch_reruns_on_save_moves_on_and_leaves_nothing_behind_on_ctrl_c(
    kit: Path, terminal_env: dict[str, str]
) -> None:
    pids_file = Path(terminal_env["PIDS_FILE"])
    term = Terminal(
        ["watch", "ex1", "--interval", "0.2", "--lang", "en"], cwd=kit, env=terminal_env
    )
    try:
        term.expect(r"Watching exercises/ex1_process\.py")
        term.expect(r"Running the tests of ex1_process")
        term.expect(r"VALUE must be 1")
        term.expect(r"✗ ex1_process does not pass yet\.")
        term.expect(r"Edit exercises/ex1_process\.py and save it to re-run its tests\. Keys:")

        # Keys work without Enter: h gives the next hint, r runs the tests again.
        term.type(b"h")
        term.expect(r"Hint 1 of 3 for ex1_process: A nudge")
        term.type(b"r")
        term.expect(r"Running the tests of ex1_process")
        term.expect(r"✗ ex1_process does not pass yet\.")

        # The learner fixes the exercise and saves: the tests run again, pass, and
        # the watch moves on to the next exercise and runs its tests at once.
        _save(kit / "exercises" / "ex1_process.py", "VALUE = 1  # fixed\n")
        term.expect(r"Running the tests of ex1_process")
        term.expect(r"✓ ex1_process passes!")
        term.expect(r"1 of 5 exercises done")
        term.expect(r"Moving on to ex2_pool \(exercises/ex2_pool\.py\)")
        term.expect(r"Running the tests of ex2_pool")
        first_pytest, first_child, version = _pids(pids_file)
        assert version == "1"

        # A save while the tests still run restarts them: the old run is ended whole.
        pids_file.unlink()
        _save(kit / "exercises" / "ex2_pool.py", "VERSION = 2  # retry\n")
        term.expect(r"exercises/ex2_pool\.py changed: restarting the tests\.")
        assert _gone(first_pytest, first_child), "the interrupted run left processes behind"
        second_pytest, second_child, version = _pids(pids_file)
        assert version == "2"

        # Ctrl-C, typed into the terminal.
        term.type(b"\x03")
        term.expect(r"Stopped watching\.")
        assert term.wait() == 0
        assert _gone(second_pytest, second_child), "Ctrl-C left processes behind"
        assert not psutil.pid_exists(term.proc.pid)
    finally:
        term.close()


def test_watch_speaks_korean_and_stops_on_sigterm(kit: Path, terminal_env: dict[str, str]) -> None:
    terminal_env["MPCHECK_LANG"] = "ko"
    terminal_env["IGNORE_SIGINT"] = "1"
    pids_file = Path(terminal_env["PIDS_FILE"])
    term = Terminal(["watch", "2", "--interval", "0.2"], cwd=kit, env=terminal_env)
    try:
        term.expect(r"exercises/ex2_pool\.py을\(를\) 지켜보는 중")
        term.expect(r"ex2_pool\(exercises/ex2_pool\.py\)의 테스트를 실행하는 중")
        pytest_pid, child_pid, _version = _pids(pids_file)
        # A closed terminal window or a `kill` ends the watch just as cleanly.
        os.kill(term.proc.pid, signal.SIGTERM)
        term.expect(r"감시를 멈췄습니다\.")
        assert term.wait() == 0
        assert _gone(pytest_pid, child_pid)
    finally:
        term.close()


def test_watch_says_when_every_exercise_passes(kit: Path, terminal_env: dict[str, str]) -> None:
    from pytest_mpcheck.learner.progress import EXERCISES, ExerciseResult, record_run

    record_run(kit, [ExerciseResult(name, earned=20, passed=1) for name in EXERCISES[1:]])
    _save(kit / "exercises" / "ex1_process.py", "VALUE = 1\n")
    term = Terminal(["watch", "--no-clear"], cwd=kit, env=terminal_env)
    try:
        term.expect(r"✓ ex1_process passes!")
        term.expect(r"5 of 5 exercises done")
        term.expect(r"Every exercise passes\. Well done!")
        assert term.wait() == 0
    finally:
        term.close()


def test_a_killed_watch_leaves_nothing_behind(kit: Path, terminal_env: dict[str, str]) -> None:
    pids_file = Path(terminal_env["PIDS_FILE"])
    term = Terminal(["watch", "ex2", "--no-clear"], cwd=kit, env=terminal_env)
    try:
        term.expect(r"Running the tests of ex2_pool")
        pytest_pid, child_pid, _version = _pids(pids_file)
        os.kill(term.proc.pid, signal.SIGKILL)  # no clean-up code runs in the watch
        term.proc.wait(timeout=WAIT)
        assert _gone(pytest_pid, child_pid), "the tests outlived a killed watch"
    finally:
        term.close()


def test_watch_keys_in_korean(kit: Path, terminal_env: dict[str, str]) -> None:
    terminal_env["MPCHECK_LANG"] = "ko"
    term = Terminal(["watch", "ex1", "--no-clear"], cwd=kit, env=terminal_env)
    try:
        term.expect(r"✗ ex1_process은\(는\) 아직 통과하지 못했습니다\.")
        term.expect(r"키: h 힌트, r 다시 실행, q 끝내기")
        term.type(b"h")
        term.expect(r"ex1_process 힌트 3개 중 1번째: 살짝 귀띔")
        term.type(b"q")
        term.expect(r"감시를 멈췄습니다\.")
        assert term.wait() == 0
    finally:
        term.close()
