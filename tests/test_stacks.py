"""Hang reports: where each stuck process is blocked, from py-spy, under every start method."""

from __future__ import annotations

import textwrap

import psutil
import pytest

# The test module the inner pytest runs. Its helpers are top-level so that spawn and
# forkserver children can import them. Each scenario waits (bounded) until the child
# is where it should be, checks the report names the file and line, then kills it.
INNER = textwrap.dedent(
    '''
    import multiprocessing
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil
    import pytest

    from pytest_mpcheck.stacks import dump_stacks, format_stacks, full_stacks_default

    HERE = Path(__file__).resolve()
    PIDS = HERE.with_name("pids.txt")


    def line_of(marker):
        for number, text in enumerate(HERE.read_text().splitlines(), start=1):
            if text.rstrip().endswith("# " + marker):
                return number
        raise LookupError(marker)


    def consumer(q):
        q.get()  # LINE_GET


    def sleeper():
        time.sleep(120)  # LINE_SLEEP


    def joiner(method):
        child = multiprocessing.get_context(method).Process(target=sleeper, name="grandchild")
        child.start()
        child.join()  # LINE_JOIN


    def busy():
        n = 0
        while True: n += 1  # LINE_BUSY


    def filler(q):
        for _ in range(300):
            q.put(b"x" * 1024)  # LINE_FILL


    @pytest.fixture
    def started(mp_context):
        """Start processes of the test's context; kill them all and record their pids."""
        procs = []

        def start(target, *args, name):
            proc = mp_context.Process(target=target, args=args, name=name)
            proc.start()
            procs.append(proc)
            return proc

        yield start
        for proc in procs:
            children = psutil.Process(proc.pid).children(recursive=True) if proc.is_alive() else []
            for child in children:
                with open(PIDS, "a") as f:
                    f.write(f"{child.pid}\\n")
                child.kill()
            with open(PIDS, "a") as f:
                f.write(f"{proc.pid}\\n")
            proc.kill()
            proc.join(10)


    def report_when(pid, role, *needles, timeout=60.0, **kwargs):
        """Dump until the report contains every needle (a spawned child may still be
        importing, or on its way into the blocking call)."""
        deadline = time.monotonic() + timeout
        while True:
            stacks = dump_stacks({pid: role}, **kwargs)
            text = format_stacks(stacks)
            if all(n in text for n in needles) or time.monotonic() > deadline:
                return stacks, text
            time.sleep(0.2)


    def test_consumer_blocked_in_get(started, mp_context):
        q = mp_context.Queue()
        proc = started(consumer, q, name="consumer")
        needle = f'File "{HERE}", line {line_of("LINE_GET")}, in consumer'
        stacks, text = report_when(proc.pid, "consumer 1", needle, "waiting in Queue.get")
        assert needle in text, text
        assert f"consumer 1 (pid {proc.pid}): waiting in Queue.get" in text
        assert "q.get()" in text
        assert "<-- blocked here" in text
        assert stacks[0].blocked_in == "Queue.get"
        # Trimmed: no bootstrap frames, nothing of pytest inherited through fork.
        assert "_bootstrap" not in text
        assert "pytest" not in text.replace(str(HERE), "")


    def test_process_blocked_in_join(started, mp_context, mp_start_method):
        proc = started(joiner, mp_start_method, name="joiner")
        needle = f'File "{HERE}", line {line_of("LINE_JOIN")}, in joiner'
        stacks, text = report_when(proc.pid, "joiner", needle, "waiting in BaseProcess.join")
        assert needle in text, text
        assert "waiting in BaseProcess.join" in text
        assert stacks[0].blocked_in == "BaseProcess.join"


    def test_child_in_busy_loop(started):
        proc = started(busy, name="busy")
        needle = f'File "{HERE}", line {line_of("LINE_BUSY")}, in busy'
        stacks, text = report_when(proc.pid, "busy worker", needle, "running (busy")
        assert needle in text, text
        assert "running (busy, not waiting for anything)" in text
        assert "<-- running here" in text
        assert stacks[0].busy


    @pytest.mark.mp_start_methods("fork")
    def test_sleeping_child_points_at_its_line(started):
        proc = started(sleeper, name="sleeper")
        needle = f'File "{HERE}", line {line_of("LINE_SLEEP")}, in sleeper'
        _, text = report_when(proc.pid, "sleeper", needle)
        assert needle in text, text
        assert "time.sleep(120)" in text


    def test_child_flushing_queue_at_exit(started, mp_context):
        q = mp_context.Queue()
        proc = started(filler, q, name="filler")
        stacks, text = report_when(proc.pid, "producer", "flushing a queue")
        assert "producer" in text
        expected = "finished its work but is blocked at exit, flushing a queue that nobody drains"
        assert expected in text, text
        assert stacks[0].flushing_queue
        assert stacks[0].hidden_threads == 1  # the queue's feeder thread, stuck writing


    @pytest.mark.mp_start_methods("forkserver")
    def test_manager_queue_get(started, mp_context):
        with mp_context.Manager() as manager:
            q = manager.Queue()
            proc = started(consumer, q, name="consumer")
            needle = f'File "{HERE}", line {line_of("LINE_GET")}, in consumer'
            stacks, text = report_when(
                proc.pid, "consumer", "BaseProxy._callmethod", "(a Manager proxy)"
            )
            assert needle in text, text
            assert "waiting in get (a Manager proxy)" in text
            assert stacks[0].blocked_in == "get"
            proc.kill()
            proc.join(10)


    @pytest.mark.mp_start_methods("fork")
    def test_full_dump_keeps_bootstrap(started, mp_context):
        q = mp_context.Queue()
        proc = started(consumer, q, name="consumer")
        _, text = report_when(proc.pid, "consumer", "waiting in Queue.get", full=True)
        assert "BaseProcess._bootstrap" in text, text
        assert "connection.py" in text
        assert "more frames hidden" not in text


    @pytest.mark.mp_start_methods("fork")
    def test_many_processes_in_one_report(started, mp_context):
        q = mp_context.Queue()
        procs = [started(consumer, q, name=f"c{i}") for i in range(8)]
        deadline = time.monotonic() + 60
        while True:
            stacks = dump_stacks({p.pid: f"consumer {i + 1}" for i, p in enumerate(procs)})
            if all(s.blocked_in == "Queue.get" for s in stacks) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        text = format_stacks(stacks)
        for i, p in enumerate(procs):
            assert f"consumer {i + 1} (pid {p.pid}): waiting in Queue.get" in text, text


    @pytest.mark.mp_start_methods("fork")
    def test_concurrent_dumps_of_one_process(started):
        # Two reports at once (a fixture's and the kit's) must not make each other
        # fail: only one py-spy can suspend a process at a time.
        from concurrent.futures import ThreadPoolExecutor

        proc = started(busy, name="busy")
        report_when(proc.pid, "busy", "running (busy")
        with ThreadPoolExecutor(6) as pool:
            stacks = list(pool.map(lambda _: dump_stacks({proc.pid: "busy"})[0], range(6)))
        assert all(s.available and s.busy for s in stacks), [s.error for s in stacks]


    @pytest.mark.mp_start_methods("spawn")
    def test_unavailable_stacks_say_why(mp_start_method, monkeypatch):
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait(30)
        not_python = subprocess.Popen(["sleep", "60"])
        try:
            stacks = dump_stacks({gone.pid: "finished", not_python.pid: "shell tool"})
            text = format_stacks(stacks)
            exited = "stack unavailable: the process has already exited"
            assert f"finished (pid {gone.pid}): {exited}" in text
            not_py = "stack unavailable: not a Python process"
            assert f"shell tool (pid {not_python.pid}): {not_py}" in text
            assert not stacks[1].available
            monkeypatch.setenv("MPCHECK_PY_SPY", "/nonexistent/py-spy")
            text = format_stacks(dump_stacks({not_python.pid: "tool"}))
            assert "stack unavailable: py-spy is not installed (pip install py-spy)" in text
            # A py-spy that is refused by ptrace, and one that never answers.
            refused = HERE.with_name("refused-py-spy")
            refused.write_text(
                "#!/bin/sh\\necho 'Error: Permission denied (os error 13)' >&2\\nexit 1\\n"
            )
            refused.chmod(0o755)
            monkeypatch.setenv("MPCHECK_PY_SPY", str(refused))
            text = format_stacks(dump_stacks({not_python.pid: "tool"}))
            assert "stack unavailable: py-spy is not permitted to read the process (ptrace)" in text
            silent = HERE.with_name("silent-py-spy")
            silent.write_text("#!/bin/sh\\nexec sleep 30\\n")
            silent.chmod(0o755)
            monkeypatch.setenv("MPCHECK_PY_SPY", str(silent))
            text = format_stacks(dump_stacks({not_python.pid: "tool"}, timeout=1))
            assert "stack unavailable: py-spy did not answer within 1 s" in text
        finally:
            not_python.kill()
            not_python.wait(10)
            with open(PIDS, "a") as f:
                f.write(f"{not_python.pid}\\n")


    @pytest.mark.mp_start_methods("spawn")
    def test_full_option(mp_start_method, pytestconfig):
        assert full_stacks_default() is (os.environ.get("EXPECT_FULL") == "1")
    '''
)


def _assert_all_gone(pytester: pytest.Pytester) -> None:
    pids_file = pytester.path / "pids.txt"
    pids = [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []
    assert pids, "the inner tests recorded no process"
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    assert not alive, f"processes survived the tests: {alive}"


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_hangs=INNER)
    return pytester


def test_hang_reports_under_each_start_method_and_xdist(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every scenario under spawn, forkserver and fork, run by two xdist workers."""
    monkeypatch.setenv("EXPECT_FULL", "0")
    result = inner.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", timeout=240)
    methods = len([m for m in ("spawn", "forkserver", "fork") if m in _all_start_methods()])
    # get, join, busy loop and flushing under every method; the rest under one each.
    result.assert_outcomes(passed=4 * methods + 7)
    _assert_all_gone(inner)


def test_full_stacks_option_and_ini(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--mpcheck-full-stacks`` and ``mpcheck_full_stacks = true`` make full dumps the default."""
    monkeypatch.setenv("EXPECT_FULL", "1")
    monkeypatch.delenv("MPCHECK_FULL_STACKS", raising=False)
    args = ("-p", "no:cacheprovider", "-k", "full_option")
    inner.runpytest_subprocess("--mpcheck-full-stacks", *args).assert_outcomes(passed=1)
    inner.runpytest_subprocess("-o", "mpcheck_full_stacks=true", *args).assert_outcomes(passed=1)
    # Without either, the default (trimmed) is checked by the run above, with EXPECT_FULL=0.


def test_full_stacks_option_in_help(pytester: pytest.Pytester) -> None:
    """The option and its ini twin are listed by ``--help``."""
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--mpcheck-full-stacks*", "*mpcheck_full_stacks*"])


def _all_start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()
