"""``mpcheck watch``: re-run the current exercise's tests each time its file is saved.

The tests run as ``python -m pytest exercises/ -k <exercise>`` in a child process
of its own session, so that a hang or a stray child of the learner's code can be
ended as a whole: on a new save (the run is restarted), and on Ctrl-C (the watch
ends with no process left behind). Files are polled (modification time, size,
inode), which needs no extra dependency and works with editors that save by
writing a new file and renaming it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shlex
import signal
import subprocess
import sys
import termios
import time
import tty
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pytest_mpcheck import reaper
from pytest_mpcheck.i18n import _, current_language
from pytest_mpcheck.learner.hints import hints_text
from pytest_mpcheck.learner.progress import (
    LastRun,
    ProgressFileError,
    read_last_run,
    resolve_exercise,
)
from pytest_mpcheck.learner.status import exercise_file, next_exercise, progress_line
from pytest_mpcheck.proctree import descendants, kill_session, kill_tree

__all__ = ["Keys", "Quit", "Watcher", "file_stamp", "watch_command"]

Stamp = tuple[int, int, int] | None

CLEAR_SCREEN = "\x1b[2J\x1b[H"
# How long pytest gets to tear down (and end the sandbox's children) after SIGINT
# before the whole tree is killed.
INTERRUPT_GRACE = 3.0


def file_stamp(path: Path) -> Stamp:
    """Return what changes when ``path`` is saved (``None`` while it does not exist)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Let a second Ctrl-C not interrupt the clean-up of the first."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to protect
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Keys:
    """Single key presses from the terminal, read without waiting for Enter.

    Only when standard input is a terminal: it is put in cbreak mode (Ctrl-C
    still interrupts) and given back as it was on exit. Otherwise, and after the
    end of input, :meth:`read` just waits.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        stream = sys.stdin if stream is None else stream
        try:
            self.fd: int | None = stream.fileno() if stream.isatty() else None
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self._saved: list[Any] | None = None
        self._saved_fd = -1

    @property
    def available(self) -> bool:
        """Whether key presses can be read."""
        return self.fd is not None

    def __enter__(self) -> Keys:
        if self.fd is not None:
            try:
                self._saved = termios.tcgetattr(self.fd)
                self._saved_fd = self.fd
                tty.setcbreak(self.fd)
            except termios.error:
                self.fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self._saved_fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def read(self, timeout: float) -> str | None:
        """Return the key pressed within ``timeout`` seconds (lower case), or ``None``."""
        if self.fd is None:
            time.sleep(timeout)
            return None
        ready, _w, _x = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        data = os.read(self.fd, 64)
        if not data:  # end of input: no more keys, only waiting
            self.fd = None
            return None
        return data.decode("utf-8", "ignore")[:1].lower() or None


class Quit(KeyboardInterrupt):
    """The learner pressed q: leave as after Ctrl-C."""


class Watcher:
    """The watch loop for one kit folder."""

    def __init__(
        self,
        root: Path,
        exercise: str,
        *,
        interval: float = 0.5,
        clear: bool = True,
        pytest_args: Sequence[str] = (),
        out: TextIO | None = None,
        keys: Keys | None = None,
    ) -> None:
        self.root = root
        self.exercise = exercise
        self.interval = interval
        self.pytest_args = list(pytest_args)
        self.out = sys.stdout if out is None else out
        self.clear = clear and self.out.isatty()
        self.done: set[str] = set()
        self._child: subprocess.Popen[bytes] | None = None
        self.tested: Stamp = None  # the file as the last run saw it
        self.keys = Keys(stream=None) if keys is None else keys

    # -- output ---------------------------------------------------------------

    def say(self, text: str = "") -> None:
        """Print ``text`` at once (the child writes to the same terminal)."""
        print(text, file=self.out, flush=True)

    def _path(self, name: str) -> Path:
        return exercise_file(self.root, name)

    def _shown(self, name: str) -> Path:
        return Path("exercises", f"{name}.py")

    def _last_run(self) -> LastRun | None:
        try:
            return read_last_run(self.root)
        except ProgressFileError:
            return None

    # -- the child pytest -----------------------------------------------------

    def command(self, name: str) -> list[str]:
        """Return the pytest command line that runs the tests of exercise ``name``."""
        return [sys.executable, "-m", "pytest", "exercises", "-k", name, *self.pytest_args]

    def _start(self, name: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, MPCHECK_LANG=current_language())
        self._child = subprocess.Popen(
            self.command(name),
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # If the watch itself is killed outright (SIGKILL, a closed terminal that
        # escalates), the reaper's watchdog still ends the run and all it started.
        reaper.watch(self._child.pid)
        return self._child

    def stop_child(self) -> None:
        """End the running tests and every process they started; wait for all of it."""
        proc, self._child = self._child, None
        if proc is None:
            return
        with _sigint_ignored():
            if proc.poll() is None:
                # Remember the tree now: once pytest is gone its children are re-parented.
                tree = descendants(proc.pid)
                # SIGINT first, so pytest tears down (and the sandbox ends its children).
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=INTERRUPT_GRACE)
                kill_tree([proc.pid, *tree])
            # Whatever is left in the run's session (a stray child that outlived pytest).
            kill_session(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def run_tests(self, name: str) -> int:
        """Run ``name``'s tests; restart them if the file is saved meanwhile; return the code."""
        path = self._path(name)
        while True:
            stamp = self.tested = file_stamp(path)
            if self.clear:
                self.out.write(CLEAR_SCREEN)
            self.say(
                _("Running the tests of {exercise} ({path})...").format(
                    exercise=name, path=self._shown(name)
                )
            )
            proc = self._start(name)
            restart: str | None = None
            try:
                while proc.poll() is None:
                    key = self.keys.read(self.interval)
                    if key == "q":
                        raise Quit
                    if key == "r":
                        restart = _("Restarting the tests.")
                    elif file_stamp(path) != stamp:
                        restart = _("{path} changed: restarting the tests.").format(
                            path=self._shown(name)
                        )
                    if restart is not None:
                        break
                code = proc.returncode
            finally:
                self.stop_child()
            if restart is None:
                return code
            self.say(restart)

    # -- the loop -------------------------------------------------------------

    def wait_for_change(self, name: str) -> None:
        """Return once ``name``'s file differs from what was last tested (a complete save)."""
        path = self._path(name)
        # Compared with the file as it was when the last run started, so a save made
        # while the result was being shown is not missed.
        while True:
            now = file_stamp(path)
            if now is not None and now != self.tested:
                # Let an editor that writes in several steps finish first.
                time.sleep(min(self.interval, 0.2))
                if file_stamp(path) == now:
                    return
                continue
            key = self.keys.read(self.interval)
            if key == "q":
                raise Quit
            if key in ("r", "\n"):
                return
            if key == "h":
                self.say()
                self.say(hints_text(self.root, name, command=False))
                self.say()
                self.say(self._waiting_line(name))

    def report(self, name: str, code: int) -> bool:
        """Say how the run of ``name`` went and where the learner stands; True if it passed."""
        self.say()
        if code == 0:
            self.done.add(name)
            self.say(_("✓ {exercise} passes!").format(exercise=name))
        elif code == 5:
            self.say(
                _(
                    "No test of {exercise} was found under exercises/ (pytest -k {exercise})."
                ).format(exercise=name)
            )
        elif code == 1:
            self.say(_("✗ {exercise} does not pass yet.").format(exercise=name))
        else:
            self.say(
                _(
                    "pytest could not run the tests (exit code {code}): see its message above."
                ).format(code=code)
            )
        # ``done`` covers a kit that did not record the run: what passed here counts.
        self.say(progress_line(self._last_run(), done=self.done))
        return code == 0

    def _waiting_line(self, name: str) -> str:
        if self.keys.available:
            return _(
                "Edit {path} and save it to re-run its tests. Keys: h a hint, r run again, q quit."
            ).format(path=self._shown(name))
        return _(
            "Edit {path} and save it to re-run its tests. Stuck? mpcheck hint {number}. "
            "Ctrl-C to stop."
        ).format(path=self._shown(name), number=name.split("_")[0])

    def run(self) -> int:
        """Watch until every exercise passes (0) or the learner presses Ctrl-C."""
        name = self.exercise
        self.say(
            _("Watching {path}: each save re-runs its tests. Ctrl-C to stop.").format(
                path=self._shown(name)
            )
        )
        while True:
            passed = self.report(name, self.run_tests(name))
            if passed:
                upcoming = next_exercise(self._last_run(), after=name, done=self.done)
                if upcoming is None:
                    self.say(_("Every exercise passes. Well done!"))
                    return 0
                self.say(
                    _("Moving on to {exercise} ({path}).").format(
                        exercise=upcoming, path=self._shown(upcoming)
                    )
                )
                name = upcoming
                continue
            self.say(self._waiting_line(name))
            self.wait_for_change(name)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """Treat SIGTERM and SIGHUP (terminal closed) like Ctrl-C, so the clean-up runs."""
    raise KeyboardInterrupt


def watch_command(args: argparse.Namespace) -> int:
    """Run ``mpcheck watch``; 0 when every exercise passes or the learner stops it."""
    root: Path = args.root
    if args.exercise:
        try:
            name = resolve_exercise(args.exercise)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    else:
        try:
            run = read_last_run(root)
        except ProgressFileError:
            run = None
        upcoming = next_exercise(run)
        if upcoming is None:
            print(_("Every exercise passes. Well done!"))
            print(_("To work on one again, name it: mpcheck watch ex3"))
            return 0
        name = upcoming
    if not (root / "exercises").is_dir():
        print(
            _("No exercises/ folder in {root}: run mpcheck watch from the kit's folder.").format(
                root=root
            ),
            file=sys.stderr,
        )
        return 2
    watcher = Watcher(
        root,
        name,
        interval=args.interval,
        clear=not args.no_clear,
        pytest_args=shlex.split(args.pytest_args or ""),
    )
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        with watcher.keys:
            return watcher.run()
    except KeyboardInterrupt:
        watcher.stop_child()
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            watcher.say()
            watcher.say(_("Stopped watching."))
        return 0
    finally:
        watcher.stop_child()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
